// The dashboard page's script: vanilla JavaScript, no build step, served from the binary (assets.ts). Everything
// it shows comes from /api on the same origin; text from requests is only ever set with textContent, never parsed
// as HTML. Changes (stop, capture, replay) send the page's token in a header (guard.ts).

const token = document.querySelector('meta[name="gotunnel-token"]').content;
/** The list keeps this many rows; older ones fall off, as in the daemon's own log. */
const MAX_ROWS = 500;
const STATE_REFRESH_MS = 5000;
const STATE_AFTER_REQUEST_MS = 300;

const requests = [];
/** Live events that arrive before the history has loaded wait here, so none is missed or shown twice. */
let pending = [];
let lastId = 0;
let selected;
let routes = [];

const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function toast(message) {
  const box = $("#toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 4000);
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok)
    throw new Error(body.error?.hint ? `${body.error.message}: ${body.error.hint}` : body.error?.message);
  return body;
}

function change(path, body) {
  return api(path, {
    method: "POST",
    headers: { "x-gotunnel-token": token, "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
}

function formatSize(bytes) {
  if (bytes === undefined) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function daysUntil(iso) {
  return Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
}

// Routes

function renderRoutes() {
  const body = $("#routes tbody");
  body.replaceChildren();
  $("#no-routes").hidden = routes.length > 0;
  for (const route of routes) {
    const row = el("tr");
    row.dataset.route = route.name;
    const link = el("a", route.url);
    link.href = route.url;
    link.target = "_blank";
    link.rel = "noreferrer";
    const name = el("td");
    name.append(link);
    const up = route.status === "serving";
    const status = el("td", up ? "up" : route.status === "upstream-down" ? "down" : route.status, up ? "ok" : "bad");
    if (route.problem) status.title = route.problem;
    const cert = route.certificateExpires ? `${daysUntil(route.certificateExpires)} days` : "–";
    const capture = el("td");
    const toggle = el("input");
    toggle.type = "checkbox";
    toggle.checked = route.capture;
    toggle.dataset.capture = route.name;
    toggle.title = "Keep request and response bodies (64 KiB each, in memory, newest 50 requests)";
    toggle.addEventListener("change", () => setCapture(route.name, toggle.checked, toggle));
    capture.append(toggle);
    const stop = el("button", "Stop");
    stop.type = "button";
    stop.dataset.stop = route.name;
    stop.addEventListener("click", () => stopRoute(route.name));
    const actions = el("td");
    actions.append(stop);
    const owner = el("td", `${route.owner}${route.session ? " (session)" : ""}`);
    row.append(
      name,
      el("td", route.target),
      owner,
      status,
      el("td", String(route.requests)),
      el("td", cert),
      capture,
      actions,
    );
    body.append(row);
  }
  const filter = $("#filter-route");
  const chosen = filter.value;
  filter.replaceChildren(el("option", "all"));
  filter.firstChild.value = "";
  for (const route of routes) filter.append(el("option", route.name));
  filter.value = routes.some((route) => route.name === chosen) ? chosen : "";
}

async function refreshState() {
  try {
    const state = await api("/api/state");
    $("#version").textContent = `v${state.version} · https ${state.ports.https}`;
    routes = state.routes;
    renderRoutes();
  } catch (error) {
    toast(`could not load routes: ${error.message}`);
  }
}

async function setCapture(name, on, toggle) {
  try {
    await change(`/api/routes/${encodeURIComponent(name)}/capture`, { on });
    toast(on ? `capturing bodies of ${name}` : `stopped capturing ${name}`);
  } catch (error) {
    toggle.checked = !on;
    toast(error.message);
  }
}

async function stopRoute(name) {
  if (!confirm(`Stop ${name}? Its session or dev server loses the name.`)) return;
  try {
    await change(`/api/routes/${encodeURIComponent(name)}/stop`);
    toast(`stopped ${name}`);
    await refreshState();
  } catch (error) {
    toast(error.message);
  }
}

// Requests

function matches(request) {
  const route = $("#filter-route").value;
  const status = $("#filter-status").value;
  if (route && request.route !== route) return false;
  if (status === "error") return request.error !== undefined || request.status >= 500;
  return !status || String(request.status).startsWith(status);
}

function requestRow(request) {
  const row = el("tr");
  row.dataset.id = String(request.id);
  if (request.id === selected) row.classList.add("selected");
  const path = el("td", request.path, "path");
  if (request.replayOf !== undefined) path.append(el("span", `replay of #${request.replayOf}`, "tag"));
  if (request.captured) path.append(el("span", "captured", "tag"));
  const statusClass = request.status >= 500 ? "bad" : request.status >= 400 ? "warn" : "ok";
  row.append(
    el("td", new Date(request.time).toLocaleTimeString(), "muted"),
    el("td", request.method),
    el("td", request.host),
    path,
    el("td", String(request.status), statusClass),
    el("td", `${request.durationMs.toFixed(1)} ms`),
    el("td", formatSize(request.size)),
  );
  row.addEventListener("click", () => showDetail(request.id));
  return row;
}

function renderRequests() {
  const body = $("#requests tbody");
  body.replaceChildren(...requests.filter(matches).reverse().map(requestRow));
}

function addRequest(request) {
  if (pending) return void pending.push(request);
  if (request.id <= lastId) return;
  lastId = request.id;
  requests.push(request);
  if (requests.length > MAX_ROWS) requests.shift();
  if (matches(request)) $("#requests tbody").prepend(requestRow(request));
  const rows = $("#requests tbody").rows;
  if (rows.length > MAX_ROWS) rows[rows.length - 1].remove();
}

function follow() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    $("#live").textContent = "live";
    $("#live").className = "pill ok";
  });
  events.addEventListener("error", () => {
    $("#live").textContent = "reconnecting…";
    $("#live").className = "pill bad";
  });
  events.addEventListener("request", (message) => {
    addRequest(JSON.parse(message.data));
    // The route list's request counts follow, at most a few times a second.
    clearTimeout(follow.refresh);
    follow.refresh = setTimeout(refreshState, STATE_AFTER_REQUEST_MS);
  });
  events.addEventListener("dropped", (message) => {
    const { count } = JSON.parse(message.data);
    $("#dropped").textContent = `${count} request(s) skipped while this page was behind`;
  });
}

// Detail

function headerRows(table, pairs) {
  table.tBodies[0].replaceChildren(
    ...pairs.map(([name, value]) => {
      const row = el("tr");
      row.append(el("th", name), el("td", value));
      return row;
    }),
  );
}

function bodyBlock(title, body) {
  const block = el("div");
  block.append(el("h3", title));
  if (!body) {
    block.append(el("p", "not captured", "muted"));
    return block;
  }
  const state = `${formatSize(body.totalBytes)}${body.truncated ? ", cut at 64 KiB" : ""}${body.complete ? "" : ", still streaming"}`;
  block.append(el("p", state, "muted"), el("pre", body.text ?? `(binary, base64) ${body.base64}`));
  return block;
}

async function showDetail(id) {
  selected = id;
  for (const row of $("#requests tbody").rows) row.classList.toggle("selected", row.dataset.id === String(id));
  let detail;
  try {
    detail = await api(`/api/requests/${id}`);
  } catch (error) {
    toast(error.message);
    return;
  }
  const aside = $("#detail");
  aside.hidden = false;
  aside.dataset.id = String(id);
  $("#detail-title").textContent = `#${detail.id} ${detail.method} ${detail.path}`;
  $("#detail-note").textContent = `${detail.host} · ${detail.status}${detail.error ? ` · ${detail.error}` : ""}`;
  $("#detail-timing").textContent = `${detail.timing.durationMs.toFixed(2)} ms ${detail.timing.note}`;
  headerRows($("#detail-request-headers"), detail.requestHeaders);
  headerRows($("#detail-response-headers"), detail.responseHeaders);
  const bodies = $("#detail-bodies");
  bodies.replaceChildren();
  if (detail.capture)
    bodies.append(
      bodyBlock("Request body", detail.capture.request),
      bodyBlock("Response body", detail.capture.response),
    );
  else bodies.append(el("p", "Bodies are not captured for this request: tick Capture on its route first.", "muted"));
  $("#detail-curl").textContent = detail.curl;
  $("#replay").disabled = !detail.replayable || !detail.route;
  $("#replay").title = detail.replayable ? "Send this request again through gotunnel" : "Its body was not captured";
}

async function replaySelected() {
  try {
    const result = await change(`/api/requests/${selected}/replay`);
    toast(`replayed #${selected}: ${result.status}`);
  } catch (error) {
    toast(error.message);
  }
}

async function copyCurl() {
  const text = $("#detail-curl").textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast("copied");
  } catch {
    // No clipboard permission (an insecure context or a headless browser): select the text for Ctrl-C instead.
    getSelection().selectAllChildren($("#detail-curl"));
    toast("press Ctrl-C to copy the selected command");
  }
}

// Trust & LAN

async function refreshMachine() {
  try {
    const [{ stores }, lan] = await Promise.all([api("/api/trust"), api("/api/lan")]);
    $("#trust tbody").replaceChildren(
      ...stores.map((store) => {
        const row = el("tr");
        row.dataset.store = store.id;
        const state = { trusted: "trusted", "not-trusted": "not trusted", unavailable: "unavailable" }[store.state];
        row.append(
          el("td", store.name),
          el("td", state, store.state === "trusted" ? "ok" : "warn"),
          el("td", store.reason ?? ""),
        );
        return row;
      }),
    );
    $("#lan-state").textContent = lan.listening
      ? "Listening on the LAN: devices on this network can open shared routes."
      : "Listening on this computer only: no route is shared on the LAN.";
    const link = $("#lan-url");
    link.textContent = lan.onboardingUrl ?? "unavailable";
    if (lan.onboardingUrl) link.href = lan.onboardingUrl;
    $("#lan-fingerprint").textContent = lan.ca.fingerprintSha256;
    $("#lan-routes").replaceChildren(
      ...lan.routes.map((route) => el("li", `${route.url}${route.lan ? "" : " (not shared)"}`)),
    );
    $("#lan-warnings").replaceChildren(...lan.warnings.map((warning) => el("li", warning)));
    const qr = $("#lan-qr");
    qr.hidden = !lan.onboardingUrl;
    if (lan.onboardingUrl) qr.src = `/api/lan/qr.svg?t=${Date.now()}`;
  } catch (error) {
    toast(`could not load trust and LAN state: ${error.message}`);
  }
}

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "machine") refreshMachine();
}

async function start() {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("#filter-route").addEventListener("change", renderRequests);
  $("#filter-status").addEventListener("change", renderRequests);
  $("#clear").addEventListener("click", () => {
    requests.length = 0;
    renderRequests();
  });
  $("#close-detail").addEventListener("click", () => {
    $("#detail").hidden = true;
    selected = undefined;
  });
  $("#replay").addEventListener("click", replaySelected);
  $("#copy-curl").addEventListener("click", copyCurl);
  follow();
  await refreshState();
  try {
    const history = await api("/api/requests");
    for (const request of history.requests) requests.push(request);
    lastId = requests.at(-1)?.id ?? 0;
    renderRequests();
  } catch (error) {
    toast(`could not load requests: ${error.message}`);
  }
  const early = pending;
  pending = undefined;
  for (const request of early) addRequest(request);
  setInterval(refreshState, STATE_REFRESH_MS);
}

start();
