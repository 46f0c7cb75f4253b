/**
 * The bundled example dev server: a page, a JSON endpoint, a Server-Sent Events stream and a WebSocket echo, so
 * everything gotunnel forwards can be tried by hand. `PORT` picks the port (default 3000).
 */
const port = Number(process.env.PORT ?? 3000);

const page = `<!doctype html><meta charset="utf-8"><title>hello from gotunnel</title>
<h1>It works: this page came through gotunnel over HTTPS.</h1>
<p id="ws">WebSocket: connecting…</p><p id="sse">Server-Sent Events: waiting…</p>
<script>
const ws = new WebSocket(location.origin.replace("http", "ws") + "/ws");
ws.onmessage = (e) => (document.getElementById("ws").textContent = "WebSocket: " + e.data);
ws.onopen = () => ws.send("hello");
new EventSource("/events").onmessage = (e) => (document.getElementById("sse").textContent = "Server-Sent Events: " + e.data);
</script>`;

const server = Bun.serve<undefined>({
  port,
  hostname: "localhost",
  idleTimeout: 0,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/ws" && srv.upgrade(req, { data: undefined })) return;
    if (url.pathname === "/api") {
      return Response.json({ ok: true, host: req.headers.get("host"), proto: req.headers.get("x-forwarded-proto") });
    }
    if (url.pathname === "/events") {
      let timer: Timer | undefined;
      const body = new ReadableStream({
        start(controller) {
          let n = 0;
          const tick = () => controller.enqueue(`data: tick ${++n} at ${new Date().toISOString()}\n\n`);
          tick();
          timer = setInterval(tick, 1000);
        },
        cancel: () => clearInterval(timer),
      });
      return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    }
    return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
  websocket: {
    message(ws, message) {
      ws.send(`echo: ${message}`);
    },
  },
});

console.log(`example dev server on http://localhost:${server.port}`);
