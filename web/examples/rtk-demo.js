// The RTK Query example for Bearer-style apps: tokengateBaseQuery sends
// `Authorization: Bearer` (API with EXPOSE_ACCESS_TOKEN=true) and
// re-authenticates on 401 through the client's single-flight refresh.
// Bundled by build-demos.mjs into build/rtk-demo.js.
import { configureStore } from '@reduxjs/toolkit';
import { createApi } from '@reduxjs/toolkit/query';
import { createClient } from 'tokengate-client';
import { tokengateBaseQuery } from 'tokengate-client/rtk';

const params = new URLSearchParams(location.search);
const auth = createClient({
  baseUrl: params.get('api') ?? 'http://localhost:8080/api',
  bearer: true,
  proactiveRefresh: params.get('proactive') !== '0',
});

const api = createApi({
  reducerPath: 'api',
  baseQuery: tokengateBaseQuery({ client: auth, bearer: true }),
  endpoints: (b) => ({
    me: b.query({ query: () => '/user/current-user' }),
    setting: b.query({ query: () => '/report/setting' }),
    sessions: b.query({ query: () => '/auth/sessions' }),
  }),
});

const store = configureStore({
  reducer: { [api.reducerPath]: api.reducer },
  middleware: (getDefault) => getDefault().concat(api.middleware),
});

/** Runs one endpoint (fresh, not from the cache): `{data}` or `{error: status}`. */
async function run(name) {
  const result = await store.dispatch(api.endpoints[name].initiate(undefined, { forceRefetch: true }));
  return result.error ? { error: result.error.status } : { data: result.data };
}

window.tokengate = auth;
window.rtk = { run, store };
document.getElementById('status').textContent = 'ready';
document.body.dataset.ready = 'true';
