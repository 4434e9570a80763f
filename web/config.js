// Default settings of the demo page. Override the API base per visit with
// ?api=http://localhost:8080/api (and ?proactive=0 to turn off the proactive
// refresh, which the end-to-end tests use to watch the 401 path).
// A real SPA would hard-code its API origin instead of taking it from the URL.
export const config = {
  apiBaseUrl: 'http://localhost:8080/api',
};
