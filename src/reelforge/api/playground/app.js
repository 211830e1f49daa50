"use strict";
// The Reelforge playground: a client of Reelforge's public REST API, on the page's own origin
// only, with no libraries, so that it doubles as a reference client.

const $ = (id) => document.getElementById(id);
const RESOLUTIONS = ["480p", "720p", "1080p"];
const TICKS_PER_USD = 1e10;
const KEY_STORE = "reelforge.apiKey";
const MODEL_STORE = "reelforge.model";
const REQUESTS_STORE = "reelforge.requests"; // request id -> the request, for "copy as"
const HISTORY_PAGE = 12;

const state = {
  models: [],
  model: null,
  image: null, // {file_id, name}
  refs: [], // [{file_id, name, src}]
  video: null, // {file_id, label}
  lastFrame: null, // {file_id}
  keyframes: [], // [{file_id, src, t}]
  job: null, // {id, request, abort}
  result: null, // {id, request, body}
  historyAfter: null,
  estimateSeq: 0,
  mode: null, // the mode the form was last laid out for
};

// --- the API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const text = body && typeof body === "object" ? body.error || body.message : body;
    super(`${status} ${text || ""}`.trim());
    this.status = status;
    this.body = body;
  }
}

function apiKey() {
  return $("api-key").value.trim() || "playground"; // an open server takes any key
}

function authHeaders() {
  return { Authorization: `Bearer ${apiKey()}` };
}

async function api(path, { method = "GET", json, form, signal } = {}) {
  const headers = authHeaders();
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body, signal });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  const { data } = await api("/v1/files", { method: "POST", form });
  return data.id;
}

// Server-sent events over fetch (EventSource cannot send the API key). Calls onEvent(name, data)
// for each event; true when a terminal event arrived, false when the stream just ended.
async function streamEvents(id, signal, onEvent) {
  const response = await fetch(`/v1/videos/${id}/events`, { headers: authHeaders(), signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      let data = "";
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data && onEvent(event, JSON.parse(data))) return true;
    }
  }
}

// --- money and errors ----------------------------------------------------------------------

function usd(ticks) {
  return `$${(ticks / TICKS_PER_USD).toFixed(4)}`;
}

function showError(error, where = "error") {
  const box = $(where);
  const body = error instanceof ApiError ? error.body : { error: String(error) };
  const code = body && typeof body === "object" ? body.code : null;
  const message = body && typeof body === "object" ? body.error || body.message : body;
  const status = error instanceof ApiError ? `HTTP ${error.status}` : "Error";
  $(`${where}-summary`).textContent = `${status}${code ? ` (${code})` : ""}: ${message}`;
  $(`${where}-body`).textContent = JSON.stringify(body, null, 2);
  box.hidden = false;
}

// --- the model and the form ----------------------------------------------------------------

function currentMode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function setMode(mode) {
  document.querySelector(`input[name="mode"][value="${mode}"]`).checked = true;
  applyMode();
}

function resolutionsFor(model, mode) {
  const cap = model.max_resolution[mode];
  const limit = cap ? RESOLUTIONS.indexOf(cap) : RESOLUTIONS.length;
  return model.resolutions.filter((r) => RESOLUTIONS.indexOf(r) <= limit);
}

function describeModel(m) {
  const prices = Object.entries(m.prices_usd.per_second)
    .map(([res, p]) => `$${p}/s at ${res}`)
    .join(", ");
  const range = m.durations["text-to-video"] || Object.values(m.durations)[0] || [];
  const extras = [];
  if (m.prices_usd.per_input_image) extras.push(`$${m.prices_usd.per_input_image} per input image`);
  if (m.prices_usd.per_input_video_second)
    extras.push(`$${m.prices_usd.per_input_video_second} per input-video second`);
  const limits = [`${range[0]}–${range[1]} s`, m.resolutions.join("/")];
  if (m.max_reference_images) limits.push(`up to ${m.max_reference_images} references`);
  if (m.max_keyframes) limits.push(`${m.max_keyframes} keyframes`);
  if (m.last_frame) limits.push("last frame");
  if (m.voices.length) limits.push(`voices: ${m.voices.join(", ")}`);
  return `${limits.join(" · ")}. ${prices}${extras.length ? "; " + extras.join(", ") : ""}.`;
}

function fillSelect(select, values, labels = {}) {
  const previous = select.value;
  select.replaceChildren(
    ...values.map((v) => {
      const option = document.createElement("option");
      option.value = v;
      option.textContent = labels[v] || v;
      return option;
    }),
  );
  if (values.includes(previous)) select.value = previous;
}

async function loadModels() {
  const { data } = await api("/v1/video-generation-models");
  state.models = data.models;
  fillSelect(
    $("model"),
    state.models.map((m) => m.id),
  );
  const saved = localStorage.getItem(MODEL_STORE);
  if (saved && state.models.some((m) => m.id === saved)) $("model").value = saved;
  applyModel();
}

function applyModel() {
  const model = state.models.find((m) => m.id === $("model").value);
  if (!model) return;
  state.model = model;
  localStorage.setItem(MODEL_STORE, model.id);
  $("model-info").textContent = describeModel(model);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.disabled = !model.modes.includes(radio.value);
  }
  if (!model.modes.includes(currentMode())) setMode(model.modes[0]);
  $("ref-max").textContent = model.max_reference_images;
  $("voices").replaceChildren(
    ...model.voices.map((voice) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = voice;
      box.name = "voice";
      label.append(box, ` ${voice}`);
      return label;
    }),
  );
  applyMode();
}

function applyMode() {
  const model = state.model;
  const mode = currentMode();
  if (!model) return;
  for (const section of document.querySelectorAll("[data-modes]")) {
    section.hidden = !section.dataset.modes.split(" ").includes(mode);
  }
  const pins = model.last_frame || model.max_keyframes > 0;
  if (!pins) $("pins-section").hidden = true;
  $("keyframes-box").hidden = !model.max_keyframes;
  $("last-frame-box").hidden = !model.last_frame;
  if (!model.voices.length) $("voices-section").hidden = true;
  const fromVideo = mode === "edit" || mode === "extension";
  $("duration-field").hidden = mode === "edit";
  $("aspect-field").hidden = fromVideo;
  $("resolution-field").hidden = fromVideo;
  const [low, high] = model.durations[mode] || [1, 15];
  const duration = $("duration");
  duration.min = low;
  duration.max = high;
  const value = Number(duration.value);
  if (!(value >= low && value <= high)) duration.value = Math.min(Math.max(value || low, low), high);
  const ratios = mode === "image-to-video" ? ["", ...model.aspect_ratios] : model.aspect_ratios;
  fillSelect($("aspect-ratio"), ratios, { "": "the image's" });
  if (mode === "image-to-video" && state.mode !== mode) $("aspect-ratio").value = ""; // follow it
  state.mode = mode;
  fillSelect($("resolution"), resolutionsFor(model, mode));
  scheduleEstimate();
}

// The request exactly as it will be sent: {endpoint, body}.
function buildRequest() {
  const mode = currentMode();
  const body = { model: state.model.id, prompt: $("prompt").value };
  const audio = $("audio").checked;
  if (mode === "edit" || mode === "extension") {
    if (state.video) body.video = { file_id: state.video.file_id };
    if (mode === "extension") body.duration = Number($("duration").value);
    if (!audio) body.generate_audio = false;
    return { endpoint: mode === "edit" ? "edits" : "extensions", body };
  }
  body.duration = Number($("duration").value);
  if ($("aspect-ratio").value) body.aspect_ratio = $("aspect-ratio").value;
  body.resolution = $("resolution").value;
  if (!audio) body.generate_audio = false;
  if (mode === "image-to-video") {
    const url = $("image-url").value.trim();
    if (url) body.image = { url };
    else if (state.image) body.image = { file_id: state.image.file_id };
  }
  if (mode === "reference-to-video") {
    body.reference_images = state.refs.map((r) => ({ file_id: r.file_id }));
    const voices = [...document.querySelectorAll('input[name="voice"]:checked')];
    if (voices.length) body.reference_audios = voices.map((v) => ({ voice_id: v.value }));
  }
  if (!$("pins-section").hidden) {
    if (state.lastFrame && state.model.last_frame)
      body.last_frame = { file_id: state.lastFrame.file_id };
    if (state.keyframes.length && state.model.max_keyframes) {
      body.keyframes = state.keyframes.map((k) => ({
        image: { file_id: k.file_id },
        timestamp_s: Number(k.t),
      }));
    }
  }
  return { endpoint: "generations", body };
}

// --- the cost, before the click -------------------------------------------------------------

let estimateTimer = null;

function scheduleEstimate() {
  $("cost").setAttribute("aria-busy", "true"); // until the quote for the form as it is arrives
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(estimate, 200);
}

async function estimate() {
  if (!state.model) return;
  const seq = ++state.estimateSeq;
  const cost = $("cost");
  const { endpoint, body } = buildRequest();
  if (endpoint !== "generations" && !body.video) {
    cost.textContent = "—";
    delete cost.dataset.ticks;
    cost.title = "choose a video first";
    cost.removeAttribute("aria-busy");
    return;
  }
  // The price does not depend on the words: quote an unfinished prompt as any other.
  const quoted = { ...body, prompt: body.prompt.trim() || "any prompt" };
  try {
    const { data } = await api(`/v1/videos/${endpoint}/estimate`, { method: "POST", json: quoted });
    if (seq !== state.estimateSeq) return;
    cost.textContent = usd(data.cost_in_usd_ticks);
    cost.dataset.ticks = data.cost_in_usd_ticks;
    cost.title = `${data.cost_in_usd_ticks} ticks`;
  } catch (error) {
    if (seq !== state.estimateSeq) return;
    cost.textContent = "—";
    delete cost.dataset.ticks;
    cost.title = error.message; // e.g. "duration: must be between 1 and 15"
  }
  cost.removeAttribute("aria-busy");
}

// --- inputs: uploads, drops and previews ----------------------------------------------------

function preview(file) {
  return URL.createObjectURL(file);
}

async function withUpload(file, then) {
  const note = $("upload-status");
  note.textContent = `Uploading ${file.name}…`;
  try {
    const id = await upload(file);
    then(id);
  } catch (error) {
    showError(error);
  } finally {
    note.textContent = "";
  }
  scheduleEstimate();
}

const inputHandlers = {
  "image-file": async (files) => {
    const [file] = files;
    if (!file) return;
    await withUpload(file, (id) => {
      state.image = { file_id: id, name: file.name };
      $("image-url").value = "";
      const img = $("image-preview");
      img.src = preview(file);
      img.hidden = false;
    });
  },
  "ref-files": async (files) => {
    for (const file of files) {
      if (state.refs.length >= state.model.max_reference_images) break;
      await withUpload(file, (id) => {
        state.refs.push({ file_id: id, name: file.name, src: preview(file) });
      });
    }
    renderRefs();
  },
  "video-file": async (files) => {
    const [file] = files;
    if (!file) return;
    await withUpload(file, (id) => {
      state.video = { file_id: id, label: file.name };
    });
    renderVideoSource();
  },
  "last-frame-file": async (files) => {
    const [file] = files;
    if (!file) return;
    await withUpload(file, (id) => {
      state.lastFrame = { file_id: id };
      const img = $("last-frame-preview");
      img.src = preview(file);
      img.hidden = false;
    });
  },
  "keyframe-file": async (files) => {
    const [file] = files;
    if (!file) return;
    await withUpload(file, (id) => {
      const t = Math.min(1, Number($("duration").value) / 2);
      state.keyframes.push({ file_id: id, src: preview(file), t });
    });
    $("keyframe-file").value = "";
    renderKeyframes();
  },
};

function insertAtCursor(field, text) {
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? start;
  field.value = field.value.slice(0, start) + text + field.value.slice(end);
  field.focus();
  field.selectionStart = field.selectionEnd = start + text.length;
  scheduleEstimate();
}

// A button that takes item `i` out of `list`, then redraws.
function removeButton(what, list, i, redraw) {
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove ${what}`);
  remove.addEventListener("click", () => {
    list.splice(i, 1);
    redraw();
    scheduleEstimate();
  });
  return remove;
}

function renderRefs() {
  $("ref-list").replaceChildren(
    ...state.refs.map((ref, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = ref.src;
      img.alt = `reference ${i + 1}: ${ref.name}`;
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = `<IMAGE_${i + 1}>`;
      chip.setAttribute("aria-label", `Insert <IMAGE_${i + 1}> into the prompt`);
      chip.addEventListener("click", () => insertAtCursor($("prompt"), `<IMAGE_${i + 1}>`));
      li.append(img, chip, removeButton(`reference ${i + 1}`, state.refs, i, renderRefs));
      return li;
    }),
  );
}

function renderKeyframes() {
  $("keyframe-list").replaceChildren(
    ...state.keyframes.map((key, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = key.src;
      img.alt = `keyframe ${i + 1}`;
      const label = document.createElement("label");
      label.textContent = "at second";
      const time = document.createElement("input");
      time.type = "number";
      time.step = "0.1";
      time.min = "0";
      time.value = key.t;
      time.id = `keyframe-time-${i}`;
      label.htmlFor = time.id;
      time.addEventListener("input", () => {
        key.t = time.value;
        scheduleEstimate();
      });
      li.append(img, label, time, removeButton(`keyframe ${i + 1}`, state.keyframes, i, renderKeyframes));
      return li;
    }),
  );
}

function renderVideoSource() {
  $("video-source").textContent = state.video ? `Video: ${state.video.label}` : "No video chosen.";
}

function wireDrops() {
  for (const zone of document.querySelectorAll(".drop")) {
    const input = $(zone.dataset.input);
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      inputHandlers[input.id]([...event.dataTransfer.files]);
    });
  }
  for (const [id, handler] of Object.entries(inputHandlers)) {
    $(id).addEventListener("change", (event) => handler([...event.target.files]));
  }
}

// --- a job: create, progress, cancel ---------------------------------------------------------

function rememberRequest(id, request) {
  const all = JSON.parse(localStorage.getItem(REQUESTS_STORE) || "{}");
  all[id] = request;
  const ids = Object.keys(all);
  for (const old of ids.slice(0, Math.max(0, ids.length - 100))) delete all[old];
  localStorage.setItem(REQUESTS_STORE, JSON.stringify(all));
}

function recalledRequest(id) {
  return JSON.parse(localStorage.getItem(REQUESTS_STORE) || "{}")[id] || null;
}

async function submit(event) {
  event.preventDefault();
  $("error").hidden = true;
  const request = buildRequest();
  $("generate").disabled = true;
  try {
    const { data } = await api(`/v1/videos/${request.endpoint}`, {
      method: "POST",
      json: request.body,
    });
    rememberRequest(data.request_id, request);
    follow(data.request_id, request);
    loadHistory(true);
  } catch (error) {
    showError(error);
  } finally {
    $("generate").disabled = false;
  }
}

function stopFollowing() {
  if (state.job) state.job.abort.abort();
  state.job = null;
}

async function follow(id, request) {
  stopFollowing();
  const abort = new AbortController();
  const job = { id, request, abort, progress: 0 };
  state.job = job;
  $("result").hidden = true;
  $("job").hidden = false;
  $("progress").value = 0;
  $("cancel").disabled = false;
  $("job-status").textContent = "Queued";
  watchQueue(job);
  let final = null;
  try {
    const ended = await streamEvents(id, abort.signal, (name, data) => {
      if (name === "progress") {
        job.progress = data.progress;
        $("progress").value = data.progress;
        if (data.progress > 0) $("job-status").textContent = `Rendering: ${data.progress}%`;
        return false;
      }
      final = data;
      return true;
    });
    while (!ended && !final) {
      // the stream ended early (a server restart): long-poll instead
      const { status, data } = await api(`/v1/videos/${id}?wait=30`, { signal: abort.signal });
      if (status !== 202) final = data;
    }
  } catch (error) {
    if (abort.signal.aborted) return;
    $("job").hidden = true;
    showError(error);
    return;
  }
  if (state.job !== job) return;
  state.job = null;
  $("job").hidden = true;
  showResult(id, request, final);
  loadHistory(true);
}

// The events carry progress only; while a job waits for a worker, a poll tells its place.
async function watchQueue(job) {
  while (state.job === job && job.progress === 0) {
    try {
      const { status, data } = await api(`/v1/videos/${job.id}`, { signal: job.abort.signal });
      if (status !== 202 || state.job !== job) return;
      if (data.queue_position && job.progress === 0) {
        $("job-status").textContent = `Queued: position ${data.queue_position}`;
      } else if (job.progress === 0) {
        $("job-status").textContent = "Starting";
      }
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function cancel() {
  if (!state.job) return;
  $("cancel").disabled = true;
  try {
    await api(`/v1/videos/${state.job.id}/cancel`, { method: "POST" });
  } catch (error) {
    showError(error);
  }
}

// --- the result -------------------------------------------------------------------------------

function showResult(id, request, body) {
  state.result = { id, request, body };
  const video = $("result-video");
  const done = body.status === "done";
  const url = done && body.video ? body.video.url : "";
  const blocked = done && body.video && body.video.respect_moderation === false;
  $("result").hidden = false;
  $("result-title").textContent = `Result ${id}`;
  $("blocked").hidden = !blocked;
  $("failed").hidden = done;
  video.hidden = !url;
  if (url) {
    video.src = url;
  } else {
    video.removeAttribute("src");
    video.load();
  }
  const download = $("download");
  download.hidden = !url;
  if (url) {
    download.href = url;
    download.download = `${id}.mp4`;
  }
  $("extend-this").hidden = !url;
  $("edit-this").hidden = !url;
  const meta = $("result-meta");
  meta.replaceChildren();
  if (done) {
    const cost = document.createElement("span");
    cost.id = "result-cost";
    cost.dataset.ticks = body.usage.cost_in_usd_ticks;
    cost.textContent = usd(body.usage.cost_in_usd_ticks);
    meta.append(`${body.model} · ${body.video.duration} s · `, cost);
  } else if (body.status === "failed") {
    const cancelled = body.error && body.error.code === "cancelled";
    $("failed-summary").textContent = cancelled
      ? "Cancelled."
      : `Failed (${body.error.code}): ${body.error.message}`;
    $("failed-body").textContent = JSON.stringify(body, null, 2);
  } else if (body.status === "expired") {
    $("failed-summary").textContent = "This video has expired; its file is gone.";
    $("failed-body").textContent = JSON.stringify(body, null, 2);
  } else {
    $("failed").hidden = true;
  }
  $("copy-box").hidden = !request;
  if (request) renderCopy();
}

async function chainFrom(mode) {
  const { id, body } = state.result;
  const button = $(mode === "edit" ? "edit-this" : "extend-this");
  button.disabled = true;
  $("video-source").textContent = "Fetching the video…";
  try {
    // The video URL is signed: no key needed. The copy goes through the Files API, as any
    // client's would (the server may refuse to fetch its own URLs as inputs).
    const response = await fetch(body.video.url);
    if (!response.ok) throw new ApiError(response.status, await response.text());
    const file = new File([await response.blob()], `${id}.mp4`, { type: "video/mp4" });
    state.video = { file_id: await upload(file), label: `the result ${id.slice(0, 8)}` };
    setMode(mode);
    $("prompt").value = "";
    $("prompt").focus();
    $("request-form").scrollIntoView({ behavior: "smooth" });
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
    renderVideoSource();
  }
}

// --- "copy as" ------------------------------------------------------------------------------

const q = (s) => JSON.stringify(s);

function curlOf({ endpoint, body }) {
  const json = JSON.stringify(body).replaceAll("'", "'\\''");
  return [
    `curl -s ${location.origin}/v1/videos/${endpoint} \\`,
    `  -H "Authorization: Bearer $XAI_API_KEY" -H "Content-Type: application/json" \\`,
    `  -d '${json}'`,
  ].join("\n");
}

function pythonOf({ endpoint, body }) {
  const args = [`prompt=${q(body.prompt)}`, `model=${q(body.model)}`];
  const ref = (r, name) =>
    r.file_id ? `${name}_file_id=${q(r.file_id)}` : `${name}_url=${q(r.url)}`;
  if (body.video) args.push(ref(body.video, "video"));
  if (body.image) args.push(ref(body.image, "image"));
  if (body.last_frame) args.push(ref(body.last_frame, "last_frame"));
  if (body.reference_images && body.reference_images.length)
    args.push(`reference_image_file_ids=${q(body.reference_images.map((r) => r.file_id))}`);
  if (body.keyframes)
    args.push(
      `keyframes=[${body.keyframes
        .map((k) => `{"image_file_id": ${q(k.image.file_id)}, "timestamp": ${k.timestamp_s}}`)
        .join(", ")}]`,
    );
  if (body.reference_audios)
    args.push(`reference_audios=[${body.reference_audios.map((a) => `{"voice_id": ${q(a.voice_id)}}`).join(", ")}]`);
  if (body.duration !== undefined) args.push(`duration=${body.duration}`);
  if (body.aspect_ratio) args.push(`aspect_ratio=${q(body.aspect_ratio)}`);
  if (body.resolution) args.push(`resolution=${q(body.resolution)}`);
  if (body.generate_audio === false) args.push("generate_audio=False");
  const call = endpoint === "extensions" ? "extend" : "generate";
  return [
    "import xai_sdk",
    "",
    "# xai-sdk speaks gRPC: the server's --grpc-port (50051 by default); key from XAI_API_KEY",
    `client = xai_sdk.Client(api_host="${location.hostname}:50051", use_insecure_channel=True)`,
    `video = client.video.${call}(`,
    ...args.map((a) => `    ${a},`),
    ")",
    "print(video.url, video.duration)",
  ].join("\n");
}

function jsOf({ endpoint, body }) {
  const lines = [
    "import { createXai } from '@ai-sdk/xai';",
    "import { experimental_generateVideo as generateVideo } from 'ai';",
    "",
    `const baseURL = '${location.origin}/v1';`,
    "const xai = createXai({ baseURL }); // the key from XAI_API_KEY",
  ];
  if (JSON.stringify(body).includes('"file_id"')) {
    lines.push(
      "// Inputs uploaded through the Files API, read back as bytes (or a data: URL)",
      "const file = async (id) => new Uint8Array(await (await fetch(`${baseURL}/files/${id}/content`,",
      "  { headers: { Authorization: `Bearer ${process.env.XAI_API_KEY}` } })).arrayBuffer());",
      "const dataUrl = async (id, type) =>",
      "  `data:${type};base64,${Buffer.from(await file(id)).toString('base64')}`;",
    );
  }
  const bytes = (r) => (r.file_id ? `await file('${r.file_id}')` : q(r.url));
  const url = (r, type) => (r.file_id ? `await dataUrl('${r.file_id}', '${type}')` : q(r.url));
  const xai = [];
  const options = [];
  let prompt = q(body.prompt);
  if (body.image) prompt = `{ image: ${bytes(body.image)}, text: ${q(body.prompt)} }`;
  if (body.duration !== undefined) options.push(`duration: ${body.duration}`);
  if (body.aspect_ratio) options.push(`aspectRatio: '${body.aspect_ratio}'`);
  if (body.generate_audio === false) options.push("generateAudio: false");
  if (body.last_frame)
    options.push(`frameImages: [{ image: ${bytes(body.last_frame)}, frameType: 'last_frame' }]`);
  if (body.reference_images) {
    xai.push("mode: 'reference-to-video'");
    const refs = body.reference_images.map((r) => `{ data: ${bytes(r)}, mediaType: 'image/png' }`);
    options.push(`inputReferences: [${refs.join(", ")}]`);
  }
  if (body.reference_audios)
    xai.push(`referenceVoiceIds: ${q(body.reference_audios.map((a) => a.voice_id))}`);
  if (body.keyframes) {
    const keys = body.keyframes.map(
      (k) => `{ imageUrl: ${url(k.image, "image/png")}, timestampSeconds: ${k.timestamp_s} }`,
    );
    xai.push(`keyframes: [${keys.join(", ")}]`);
  }
  if (body.video) {
    xai.push(`mode: '${endpoint === "edits" ? "edit-video" : "extend-video"}'`);
    xai.push(`videoUrl: ${url(body.video, "video/mp4")}`);
  }
  if (body.resolution) xai.push(`resolution: '${body.resolution}'`);
  if (xai.length) options.push(`providerOptions: { xai: { ${xai.join(", ")} } }`);
  lines.push(
    "const { video, providerMetadata } = await generateVideo({",
    `  model: xai.video('${body.model}'),`,
    `  prompt: ${prompt},`,
    ...options.map((o) => `  ${o},`),
    "  // The SDK's own download refuses loopback and private hosts: fetch the video directly",
    "  download: async ({ url }) =>",
    "    ({ data: new Uint8Array(await (await fetch(url)).arrayBuffer()), mediaType: 'video/mp4' }),",
    "});",
    "console.log(JSON.stringify(providerMetadata.xai));",
  );
  return lines.join("\n");
}

function renderCopy() {
  const request = state.result && state.result.request;
  if (!request) return;
  const make = { curl: curlOf, python: pythonOf, js: jsOf }[$("copy-as").value];
  $("copy-code").textContent = make(request);
}

async function copyCode() {
  const text = $("copy-code").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy").textContent = "Copied";
  } catch {
    // no clipboard (an insecure origin): select the text for Ctrl-C instead
    const range = document.createRange();
    range.selectNodeContents($("copy-code"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("copy").textContent = "Selected: press Ctrl-C";
  }
  setTimeout(() => ($("copy").textContent = "Copy"), 2000);
}

// --- history ----------------------------------------------------------------------------------

function historyCard(item) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.id = item.request_id;
  const blocked = item.video && item.video.respect_moderation === false;
  let picture;
  if (item.thumbnail_url) {
    picture = document.createElement("img");
    picture.src = item.thumbnail_url;
    picture.alt = "";
    picture.loading = "lazy";
  } else {
    picture = document.createElement("span");
    picture.className = "noimg";
    picture.textContent = blocked ? "blocked" : item.status;
  }
  const status = document.createElement("span");
  status.className = `status ${item.status}`;
  const when = new Date(item.created_at * 1000).toLocaleString();
  status.textContent = `${blocked ? "blocked" : item.status} · ${item.model} · ${when}`;
  button.setAttribute("aria-label", `Open ${item.request_id}: ${status.textContent}`);
  button.append(picture, status);
  button.addEventListener("click", () => openJob(item.request_id));
  li.append(button);
  return li;
}

async function loadHistory(fresh = false) {
  if (fresh) state.historyAfter = null;
  const params = new URLSearchParams({ limit: HISTORY_PAGE });
  if (state.historyAfter) params.set("after", state.historyAfter);
  try {
    const { data } = await api(`/v1/video-requests?${params}`);
    const cards = data.data.map(historyCard);
    if (fresh) $("history-list").replaceChildren(...cards);
    else $("history-list").append(...cards);
    if (data.data.length) state.historyAfter = data.data[data.data.length - 1].request_id;
    $("history-more").hidden = !data.has_more;
  } catch (error) {
    showError(error);
  }
}

async function openJob(id) {
  $("error").hidden = true;
  try {
    const { status, data } = await api(`/v1/videos/${id}`);
    const request = recalledRequest(id);
    if (status === 202) follow(id, request);
    else {
      stopFollowing();
      $("job").hidden = true;
      showResult(id, request, data);
    }
    $("result").scrollIntoView({ behavior: "smooth" });
  } catch (error) {
    showError(error);
  }
}

// --- start ------------------------------------------------------------------------------------

function start() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("api-key").dispatchEvent(new Event("change"));
  });
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORE) || "";
  key.addEventListener("change", () => {
    localStorage.setItem(KEY_STORE, key.value.trim());
    loadModels().catch(showError);
    loadHistory(true);
  });
  $("model").addEventListener("change", applyModel);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", applyMode);
  }
  $("request-form").addEventListener("input", scheduleEstimate);
  $("request-form").addEventListener("change", scheduleEstimate);
  $("request-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("extend-this").addEventListener("click", () => chainFrom("extension"));
  $("edit-this").addEventListener("click", () => chainFrom("edit"));
  $("copy-as").addEventListener("change", renderCopy);
  $("copy").addEventListener("click", copyCode);
  $("history-more").addEventListener("click", () => loadHistory(false));
  wireDrops();
  loadModels().catch(showError);
  loadHistory(true);
}

start();
