// cir web page: plain JS over the v1 API (docs/http-api.md). State lives in `state` and is
// mirrored in the URL query string so a search can be shared (uploaded references cannot be:
// their bytes stay in this tab).
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  index: "",
  ref: null,          // {kind: "id", id} | {kind: "image", data (base64), name, previewUrl}
  text: "",
  results: [],        // accumulated pages
  nextOffset: null,
  loading: false,
  history: [],        // breadcrumbs: [{ref, text}]
  galleryAfter: null,
  fields: [],
};

// ---------------------------------------------------------------------------------------------
// API

async function api(path, body, method) {
  const init = body === undefined ? {method: method || "GET"}
                                  : {method: method || "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)};
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const msg = data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return data;
}

const indexPath = (suffix) => `/v1/indexes/${encodeURIComponent(state.index)}${suffix}`;

// ---------------------------------------------------------------------------------------------
// Query building

function numberOr(id, fallback) {
  const v = parseFloat($(id).value);
  return Number.isFinite(v) ? v : fallback;
}

function buildFilter() {
  const must = [];
  for (const f of state.fields) {
    if (f.type === "text") {
      const v = $(`filter-${f.key}`).value;
      if (v) must.push({key: f.key, match: {value: v}});
    } else {
      const range = {};
      const lo = parseFloat($(`filter-${f.key}-min`).value);
      const hi = parseFloat($(`filter-${f.key}-max`).value);
      if (Number.isFinite(lo)) range.gte = lo;
      if (Number.isFinite(hi)) range.lte = hi;
      if (Object.keys(range).length) must.push({key: f.key, range});
    }
  }
  return must.length ? {must} : null;
}

function buildQuery(offset) {
  const query = {text: state.text, method: $("method-select").value || "sum",
                 weights: {image: numberOr("w-image", 1), text: numberOr("w-text", 1), negative: numberOr("w-neg", 1)}};
  const neg = $("neg-input").value.trim();
  if (neg) query.negative_text = neg;
  if (state.ref && state.ref.kind === "id") query.reference = {id: state.ref.id};
  if (state.ref && state.ref.kind === "image") query.reference = {image: state.ref.data};
  const body = {query, limit: Math.max(1, Math.min(1000, numberOr("limit-input", 24))), offset,
                with_payload: true};
  const threshold = parseFloat($("threshold-input").value);
  if (Number.isFinite(threshold)) body.score_threshold = threshold;
  if ($("exact-input").checked) body.params = {exact: true};
  const filter = buildFilter();
  if (filter) body.filter = filter;
  return body;
}

// ---------------------------------------------------------------------------------------------
// Searching and rendering

async function search(pushHistory) {
  state.text = $("text-input").value.trim();
  if (!state.ref && !state.text) {
    setStatus("Give a reference image, a modification text, or both.");
    return;
  }
  if (pushHistory) pushBreadcrumb();
  state.results = [];
  state.nextOffset = 0;
  $("results").replaceChildren();
  saveUrlState();
  await loadMore();
}

async function loadMore() {
  if (state.loading || state.nextOffset === null) return;
  state.loading = true;
  setStatus("Searching…");
  try {
    const data = await api(indexPath("/search"), buildQuery(state.nextOffset));
    const first = state.results.length;
    state.results.push(...data.results);
    state.nextOffset = data.next_offset;
    renderResults(data.results, first);
    renderStatus(data);
    if (first === 0) renderGenerated(data.generated);
  } catch (err) {
    state.nextOffset = null;
    setStatus(`Error — ${err.message}`, true);
  } finally {
    state.loading = false;
  }
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

// SEIZE / LDRE / CIReVL: the reference's captions and the edited descriptions the query searched.
function renderGenerated(generated) {
  const box = $("generated");
  box.hidden = !generated;
  if (!generated) return;
  $("generated-keys").textContent =
    `captions ${generated.captioner_key} · edits ${generated.editor_key} · ${generated.n_generated} generated now`;
  const items = generated.edits.map((edit, i) => {
    const li = document.createElement("li");
    const edited = document.createElement("span");
    edited.className = generated.failed[i] ? "edit failed" : "edit";
    edited.textContent = edit;
    edited.title = generated.failed[i] ? "the editor failed: the unedited caption is used" : "";
    const from = document.createElement("span");
    from.className = "muted";
    from.textContent = ` ← ${generated.captions[i] ?? ""}`;
    li.append(edited, from);
    return li;
  });
  $("generated-list").replaceChildren(...items);
}

function renderStatus(data) {
  const t = data.took_ms;
  const total = Object.values(t).reduce((a, b) => a + b, 0);
  let text = `${state.results.length} results · ${data.method} · ${total.toFixed(1)} ms ` +
             `(encode text ${t.encode_text.toFixed(1)}, encode image ${t.encode_image.toFixed(1)}, ` +
             `search ${t.search.toFixed(1)}) · ${data.filtered.by_filter} filtered out`;
  if (data.ground_truth) {
    const found = state.results.filter((r) => r.ground_truth).length;
    text += ` · ground truth ${data.ground_truth.query_id}: ${found}/${data.ground_truth.targets.length} targets shown`;
  }
  setStatus(text);
  $("download-json").disabled = $("download-csv").disabled = state.results.length === 0;
}

// A result (or gallery) card; a click runs `onClick`, by default the refinement step.
function resultCard(r, position, onClick) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "card" + (r.ground_truth ? " target" : "");
  card.setAttribute("role", "listitem");
  card.dataset.position = position;
  card.title = `${r.id} — click to use as the new reference`;
  const img = document.createElement("img");
  img.src = r.thumbnail_url;
  img.alt = r.id;
  img.loading = "lazy";
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `#${r.rank} · ${r.score.toFixed(3)}`;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = r.id;
  card.append(img, meta, name);
  if (r.ground_truth) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "target";
    card.append(badge);
  }
  card.addEventListener("click", onClick || (() => refineWith(r.id)));
  return card;
}

function renderResults(rows, first) {
  const grid = $("results");
  rows.forEach((r, i) => grid.append(resultCard(r, first + i)));
  if (rows.length === 0 && first === 0) setStatus("No results.");
}

// The refinement loop: a result becomes the reference, the text stays.
function refineWith(id) {
  setReference({kind: "id", id});
  search(true);
}

// ---------------------------------------------------------------------------------------------
// Reference slot

function setReference(ref) {
  state.ref = ref;
  const img = $("ref-preview");
  if (!ref) {
    img.hidden = true;
    img.removeAttribute("src");
    $("ref-placeholder").hidden = false;
    $("ref-label").textContent = "";
    return;
  }
  img.src = ref.kind === "id" ? indexPath(`/items/${encodeURIComponent(ref.id)}/thumbnail`) : ref.previewUrl;
  img.alt = ref.kind === "id" ? ref.id : ref.name;
  img.hidden = false;
  $("ref-placeholder").hidden = true;
  $("ref-label").textContent = ref.kind === "id" ? `gallery: ${ref.id}` : `upload: ${ref.name}`;
}

function readFile(file) {
  if (!file || !file.type.startsWith("image/")) {
    setStatus("That is not an image file.", true);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    const url = reader.result;
    setReference({kind: "image", data: url.slice(url.indexOf(",") + 1), name: file.name, previewUrl: url});
    $("text-input").focus();
  };
  reader.readAsDataURL(file);
}

function pushBreadcrumb() {
  const last = state.history[state.history.length - 1];
  const same = last && last.text === state.text && JSON.stringify(last.ref) === JSON.stringify(state.ref);
  if (!same) state.history.push({ref: state.ref, text: state.text});
  renderBreadcrumbs();
}

function renderBreadcrumbs() {
  const nav = $("breadcrumbs");
  nav.replaceChildren();
  state.history.forEach((h, i) => {
    const b = document.createElement("button");
    b.type = "button";
    const label = h.ref ? (h.ref.kind === "id" ? h.ref.id : h.ref.name) : "(no image)";
    b.textContent = `${label}${h.text ? " + “" + h.text + "”" : ""}`;
    if (i === state.history.length - 1) b.setAttribute("aria-current", "step");
    b.addEventListener("click", () => {
      state.history = state.history.slice(0, i + 1);
      setReference(h.ref);
      $("text-input").value = h.text;
      renderBreadcrumbs();
      search(false);
    });
    if (i > 0) nav.append(document.createTextNode(" › "));
    nav.append(b);
  });
}

// ---------------------------------------------------------------------------------------------
// Gallery browser (GET items, paged by internal id)

async function openGallery() {
  $("gallery-grid").replaceChildren();
  state.galleryAfter = 0;
  $("gallery-dialog").showModal();
  await loadGalleryPage();
}

async function loadGalleryPage() {
  if (state.galleryAfter === null) return;
  try {
    const data = await api(indexPath(`/items?limit=48&after=${state.galleryAfter}`));
    for (const item of data.items) {
      const card = resultCard({id: item.id, thumbnail_url: item.thumbnail_url, rank: item.internal_id, score: 0}, 0, () => {
        $("gallery-dialog").close();
        setReference({kind: "id", id: item.id});
        $("text-input").focus();
      });
      card.querySelector(".meta").textContent = item.payload.caption || "";
      $("gallery-grid").append(card);
    }
    state.galleryAfter = data.next_after;
    $("gallery-more").hidden = data.next_after === null;
  } catch (err) {
    setStatus(`Gallery — ${err.message}`, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Downloads

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], {type}));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function csvCell(v) {
  const s = v === undefined || v === null ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function downloadCsv() {
  const keys = [...new Set(state.results.flatMap((r) => Object.keys(r.payload || {})))];
  const lines = [["rank", "id", "score", "ground_truth", ...keys].join(",")];
  for (const r of state.results)
    lines.push([r.rank, r.id, r.score, r.ground_truth ?? "", ...keys.map((k) => (r.payload || {})[k])].map(csvCell).join(","));
  download("cir-results.csv", "text/csv", lines.join("\n") + "\n");
}

// ---------------------------------------------------------------------------------------------
// URL state

function saveUrlState() {
  const p = new URLSearchParams();
  p.set("index", state.index);
  if (state.ref && state.ref.kind === "id") p.set("ref", state.ref.id);
  if (state.text) p.set("text", state.text);
  const method = $("method-select").value;
  if (method && method !== "sum") p.set("method", method);
  for (const [id, key] of [["w-image", "wi"], ["w-text", "wt"], ["w-neg", "wn"]])
    if ($(id).value !== "1") p.set(key, $(id).value);
  if ($("neg-input").value) p.set("neg", $("neg-input").value);
  if ($("limit-input").value !== "24") p.set("k", $("limit-input").value);
  const filter = buildFilter();
  if (filter) p.set("filter", JSON.stringify(filter));
  history.replaceState(null, "", `?${p.toString()}`);
}

function applyFilterState(filter) {
  for (const cond of filter.must || []) {
    if (cond.match && $(`filter-${cond.key}`)) $(`filter-${cond.key}`).value = cond.match.value;
    if (cond.range && $(`filter-${cond.key}-min`)) {
      if (cond.range.gte !== undefined) $(`filter-${cond.key}-min`).value = cond.range.gte;
      if (cond.range.lte !== undefined) $(`filter-${cond.key}-max`).value = cond.range.lte;
    }
  }
}

function loadUrlState() {
  const p = new URLSearchParams(location.search);
  if (p.get("ref")) setReference({kind: "id", id: p.get("ref")});
  $("text-input").value = p.get("text") || "";
  if (p.get("method")) $("method-select").value = p.get("method");
  for (const [id, key] of [["w-image", "wi"], ["w-text", "wt"], ["w-neg", "wn"]]) if (p.get(key)) $(id).value = p.get(key);
  if (p.get("neg")) $("neg-input").value = p.get("neg");
  if (p.get("k")) $("limit-input").value = p.get("k");
  if (p.get("filter")) {
    try { applyFilterState(JSON.parse(p.get("filter"))); } catch (e) { /* a hand-edited URL: ignore the filter */ }
  }
  return !!(p.get("ref") || p.get("text"));
}

// ---------------------------------------------------------------------------------------------
// Index metadata: methods and filter fields

function renderFilterFields() {
  const box = $("filter-fields");
  box.replaceChildren();
  for (const f of state.fields) {
    const label = document.createElement("label");
    label.textContent = f.key + " ";
    if (f.type === "text") {
      const sel = document.createElement("select");
      sel.id = `filter-${f.key}`;
      sel.append(new Option("any", ""));
      for (const v of f.values) sel.append(new Option(v, v));
      label.append(sel);
    } else {
      for (const side of ["min", "max"]) {
        const input = document.createElement("input");
        input.type = "number";
        input.id = `filter-${f.key}-${side}`;
        input.placeholder = `${side} (${side === "min" ? f.min : f.max})`;
        label.append(input);
      }
    }
    box.append(label);
  }
  if (!state.fields.length) box.textContent = "No metadata fields in this index.";
}

async function selectIndex(name) {
  state.index = name;
  const info = await api(indexPath(""));
  state.fields = info.fields || [];
  renderFilterFields();
}

async function init() {
  const list = await api("/v1/indexes");
  const sel = $("index-select");
  for (const ix of list.indexes) sel.append(new Option(`${ix.name} (${ix.count})`, ix.name));
  for (const m of list.methods) $("method-select").append(new Option(m, m));
  $("method-select").value = "sum";
  const wanted = new URLSearchParams(location.search).get("index");
  if (wanted && list.indexes.some((ix) => ix.name === wanted)) sel.value = wanted;
  await selectIndex(sel.value);
  if (loadUrlState()) await search(true);
}

function wireEvents() {
  $("query-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search(true);
  });
  $("index-select").addEventListener("change", (e) => {
    setReference(null);
    state.history = [];
    renderBreadcrumbs();
    selectIndex(e.target.value);
  });
  $("file-input").addEventListener("change", (e) => readFile(e.target.files[0]));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    readFile(e.dataTransfer.files[0]);
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file-input").click(); }
  });
  $("clear-ref").addEventListener("click", () => setReference(null));
  $("gallery-button").addEventListener("click", openGallery);
  $("gallery-close").addEventListener("click", () => $("gallery-dialog").close());
  $("gallery-more").addEventListener("click", loadGalleryPage);
  $("download-json").addEventListener("click", () =>
    download("cir-results.json", "application/json", JSON.stringify(state.results, null, 2)));
  $("download-csv").addEventListener("click", downloadCsv);
  // Arrow keys move between result cards.
  $("results").addEventListener("keydown", (e) => {
    const cards = [...$("results").querySelectorAll(".card")];
    const i = cards.indexOf(document.activeElement);
    if (i < 0) return;
    const step = {ArrowRight: 1, ArrowLeft: -1}[e.key];
    if (step && cards[i + step]) { e.preventDefault(); cards[i + step].focus(); }
  });
  // Infinite scroll: the sentinel below the grid fetches the next page when it comes into view.
  new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting) && state.results.length) loadMore();
  }, {rootMargin: "400px"}).observe($("sentinel"));
}

wireEvents();
init().catch((err) => setStatus(`Cannot reach the server — ${err.message}`, true));
