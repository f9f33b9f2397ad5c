// Package dashboard serves GAMESA's web dashboard: one node live over a
// WebSocket, its recorded history played back, any range exported as CSV or
// JSON, and the cluster as the node sees it. The node mounts it at /gamesa.
//
// The caller's contract:
//
//  1. Implement Source over the node: Info, Watch (live samples), History
//     (the ring and the recorder) and Cluster. Implement PlanSource as well
//     once the optimizer makes plans; until then the page says that no
//     decisions exist, and never draws made-up ones.
//  2. Build a Config from DefaultConfig, change what differs, and call New.
//     Mount the Handler at Config.Prefix and at Config.Prefix + "/".
//  3. On shutdown call Close (register it with http.Server.RegisterOnShutdown):
//     the server does not close the hijacked WebSocket connections itself.
//     Each connection's goroutines end within the WebSocket close handshake's
//     few seconds, or when the page goes away.
//
// # Routes under the prefix
//
//	GET /gamesa              the page
//	GET /gamesa/assets/...   the bundled script and style (embedded, ?v=hash: cached for good)
//	GET /gamesa/ws?rate=R    live updates (see live.go for the protocol)
//	GET /gamesa/api/info     NodeInfo
//	GET /gamesa/api/history?from=&to=&points=   samples, thinned to points
//	GET /gamesa/api/export?from=&to=&format=csv|json   every sample, as a download
//	GET /gamesa/api/cluster  GetClusterStateResponse
//	GET /gamesa/api/plans?from=&to=   {"available":bool,"plans":[...]}
//
// Times are Unix milliseconds or RFC 3339; to defaults to now and from to
// five minutes before it. JSON is protojson with the .proto field names.
//
// # Slow pages
//
// A page asks for up to MaxRate updates a second and acknowledges each
// update once it has drawn it. The server keeps at most InFlight updates
// unacknowledged; meanwhile it holds only the newest sample, so a slow page
// (or a hidden tab, which draws nothing) is sent fewer, newer updates and
// nothing queues on either side. A page that stops reading its socket
// altogether is closed after WriteTimeout. The source's watch is drained at
// once whatever the page does, so the node's hub never cuts a dashboard off.
// Each sample is marshalled once for all pages.
//
// # The front end
//
// The page's sources are in web/: plain ES modules and CSS, with uPlot (MIT)
// for the charts, bundled by esbuild. Both are npm packages pinned in
// web/package-lock.json; `make dashboard` runs `npm ci && npm run build` and
// writes dist/app.js and dist/app.css, which the binary embeds (no CDN: the
// node serves everything the page loads). `make build`, `make run` and
// `make test` do it first. dist/ holds only a placeholder in git, so the Go
// code builds and vets on a clean clone; a binary built without the bundle
// serves a page that says how to build it.
package dashboard
