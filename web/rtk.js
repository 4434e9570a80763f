// @ts-check
/**
 * An RTK Query `baseQuery` for tokengate (optional entry point
 * `tokengate-client/rtk`; `@reduxjs/toolkit` >= 2 is a peer dependency).
 *
 * It wraps `fetchBaseQuery` with the client's base URL and
 * `credentials: 'include'`; with `bearer: true` (client created with
 * `bearer: true`, API running with `EXPOSE_ACCESS_TOKEN=true`) it also sends
 * `Authorization: Bearer <client.accessToken>`. The API treats that header,
 * when present, as authoritative (a stale one is 401 even with a valid
 * cookie), so on a 401 it re-authenticates through the client's single-flight
 * refresh (one refresh for any number of parallel 401s, across tabs) and
 * retries once.
 *
 * @example
 * import { createApi } from '@reduxjs/toolkit/query';
 * import { tokengateBaseQuery } from 'tokengate-client/rtk';
 * const api = createApi({
 *   baseQuery: tokengateBaseQuery({ client: auth, bearer: true }),
 *   endpoints: (b) => ({ me: b.query({ query: () => '/user/current-user' }) }),
 * });
 */
import { fetchBaseQuery } from '@reduxjs/toolkit/query';

/** @typedef {import('./tokengate-client.js').TokengateClient} TokengateClient */
/** @typedef {import('@reduxjs/toolkit/query').FetchArgs} FetchArgs */
/** @typedef {import('@reduxjs/toolkit/query').FetchBaseQueryError} FetchBaseQueryError */
/** @typedef {import('@reduxjs/toolkit/query').FetchBaseQueryArgs} FetchBaseQueryArgs */
/** @typedef {import('@reduxjs/toolkit/query').BaseQueryFn<string | FetchArgs, unknown, FetchBaseQueryError>} TokengateBaseQuery */

/**
 * @param {{client: TokengateClient, bearer?: boolean} & Omit<FetchBaseQueryArgs, 'baseUrl'|'credentials'>} options
 * @returns {TokengateBaseQuery}
 */
export function tokengateBaseQuery({ client, bearer = false, prepareHeaders, ...rest }) {
  const raw = fetchBaseQuery({
    ...rest,
    baseUrl: client.baseUrl,
    credentials: 'include',
    prepareHeaders: async (headers, api) => {
      const token = bearer ? client.accessToken : null;
      if (token && !headers.has('Authorization')) {
        headers.set('Authorization', `Bearer ${token}`);
      }
      return prepareHeaders ? prepareHeaders(headers, api) : headers;
    },
  });
  return async (args, api, extraOptions) => {
    const sentAt = Date.now();
    const result = await raw(args, api, extraOptions);
    if (result.error?.status !== 401) {
      return result;
    }
    if (!(await client.reauthenticate(sentAt))) {
      return result;
    }
    return raw(args, api, extraOptions);
  };
}
