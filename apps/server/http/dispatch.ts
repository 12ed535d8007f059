import type { RequestListener } from 'node:http';
import type Koa from 'koa';
import { isProviderPath } from '../paths.ts';
import type { ProviderHost } from '../provider/host.ts';
import type { EdgeAnswer } from './edge.ts';

/**
 * Sends oidc-provider's paths to the current provider and everything else to our app; a
 * provider path that `answerAtEdge` can answer from memory (provider/metadata-edge.ts) goes neither way.
 */
export function dispatch(host: ProviderHost, app: Koa, answerAtEdge: EdgeAnswer = () => false): RequestListener {
  const ours = app.callback();
  return function dispatchRequest(req, res) {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (!isProviderPath(path)) void ours(req, res);
    else if (!answerAtEdge(req, res, path)) void host.handle(req, res);
  };
}
