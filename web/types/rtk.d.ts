/** @typedef {import('./tokengate-client.js').TokengateClient} TokengateClient */
/** @typedef {import('@reduxjs/toolkit/query').FetchArgs} FetchArgs */
/** @typedef {import('@reduxjs/toolkit/query').FetchBaseQueryError} FetchBaseQueryError */
/** @typedef {import('@reduxjs/toolkit/query').FetchBaseQueryArgs} FetchBaseQueryArgs */
/** @typedef {import('@reduxjs/toolkit/query').BaseQueryFn<string | FetchArgs, unknown, FetchBaseQueryError>} TokengateBaseQuery */
/**
 * @param {{client: TokengateClient, bearer?: boolean} & Omit<FetchBaseQueryArgs, 'baseUrl'|'credentials'>} options
 * @returns {TokengateBaseQuery}
 */
export function tokengateBaseQuery({ client, bearer, prepareHeaders, ...rest }: {
    client: TokengateClient;
    bearer?: boolean;
} & Omit<FetchBaseQueryArgs, "baseUrl" | "credentials">): TokengateBaseQuery;
export type TokengateClient = import("./tokengate-client.js").TokengateClient;
export type FetchArgs = import("@reduxjs/toolkit/query").FetchArgs;
export type FetchBaseQueryError = import("@reduxjs/toolkit/query").FetchBaseQueryError;
export type FetchBaseQueryArgs = import("@reduxjs/toolkit/query").FetchBaseQueryArgs;
export type TokengateBaseQuery = import("@reduxjs/toolkit/query").BaseQueryFn<string | FetchArgs, unknown, FetchBaseQueryError>;
