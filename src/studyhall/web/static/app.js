// Behaviour that needs no server round trip. No inline scripts: the pages' CSP forbids them.
"use strict";

function csrfToken() {
  const holder = document.body.getAttribute("hx-headers");
  try { return JSON.parse(holder || "{}")["X-CSRF-Token"] || ""; } catch { return ""; }
}

// A lesson video resumes where the student left it and reports its position while playing
// (every 10 s), on pause, at the end and when the page is left. A video stored by StudyHall
// reports to the video service's heartbeats (which count what was watched and move the
// lesson's progress); any other video reports position and seconds watched to the lesson.
// sendBeacon cannot set the CSRF header, so the last report is a keepalive fetch.
function trackVideo(video) {
  const heartbeat = video.dataset.heartbeatUrl;
  const url = heartbeat || video.dataset.progressUrl;
  let watched = parseFloat(video.dataset.watched || "0") || 0;
  let lastTick = null;
  let lastSent = 0;
  const resume = parseFloat(video.dataset.resume || "0") || 0;
  const seek = () => {
    if (resume > 0 && resume < (video.duration || Infinity) - 2) video.currentTime = resume;
  };
  // This deferred script may run after the metadata came in (a cached video): seek at once.
  if (video.readyState >= 1) seek(); else video.addEventListener("loadedmetadata", seek, { once: true });
  video.addEventListener("timeupdate", () => {
    const now = video.currentTime;
    if (lastTick !== null && !video.paused && now > lastTick && now - lastTick < 2) watched += now - lastTick;
    lastTick = now;
    if (Date.now() - lastSent > (heartbeat ? 10000 : 15000) && !video.paused) send();
  });
  video.addEventListener("seeking", () => { lastTick = null; });
  video.addEventListener("pause", () => send());
  video.addEventListener("ended", () => send());
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") send(); });
  function send() {
    lastSent = Date.now();
    const body = heartbeat
      ? new URLSearchParams({ position_s: video.currentTime.toFixed(1) })
      : new URLSearchParams({
          video_position_s: video.currentTime.toFixed(1),
          video_watched_s: watched.toFixed(1),
        });
    fetch(url, { method: "POST", body, keepalive: true, credentials: "same-origin",
                 headers: { "X-CSRF-Token": csrfToken() } }).catch(() => {});
  }
}

// A teacher's video goes up with tus 1.0 in 4 MiB pieces: a dropped connection is retried
// from the offset the server holds (HEAD), and a reload of the page with the same file picks
// the upload up where it stopped (its URL is remembered for that file). When the last byte is
// in, the video becomes the lesson's and the page reloads to show it.
const TUS_VERSION = "1.0.0";
const TUS_PIECE = 4 * 1024 * 1024;

function base64Text(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function refusal(response) {
  try { return (await response.json()).detail || response.statusText; } catch { return response.statusText; }
}

function tusUploader(form) {
  form.hidden = false;
  const input = form.querySelector("input[type=file]");
  const bar = form.querySelector("progress");
  const status = form.querySelector("[data-upload-status]");
  const button = form.querySelector("button[type=submit]");
  const tus = () => ({ "Tus-Resumable": TUS_VERSION, "X-CSRF-Token": csrfToken() });
  const offsetOf = (response) => parseInt(response.headers.get("Upload-Offset") || "0", 10);
  const show = (done, total) => {
    bar.max = total;
    bar.value = done;
    bar.hidden = false;
    status.textContent = form.dataset.progress.replace("{p}", String(Math.floor((100 * done) / total)));
  };
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const remembered = ["tus", form.dataset.lesson, file.name, file.size, file.lastModified].join(":");
    try {
      let url = localStorage.getItem(remembered);
      let offset = 0;
      if (url) {
        const head = await fetch(url, { method: "HEAD", headers: tus(), credentials: "same-origin" });
        if (head.ok) offset = offsetOf(head);
        else { url = null; localStorage.removeItem(remembered); }
      }
      if (!url) {
        const title = (form.querySelector("[name=title]").value || file.name).slice(0, 200);
        const metadata = [["course_id", form.dataset.course], ["lesson_id", form.dataset.lesson],
                          ["title", title], ["filename", file.name]]
          .map(([key, value]) => key + " " + base64Text(value)).join(",");
        const created = await fetch(form.dataset.endpoint, {
          method: "POST", credentials: "same-origin",
          headers: { ...tus(), "Upload-Length": String(file.size), "Upload-Metadata": metadata },
        });
        if (created.status !== 201) throw new Error(await refusal(created));
        url = new URL(created.headers.get("Location"), window.location.href).pathname;
        localStorage.setItem(remembered, url);
      }
      let failures = 0;
      while (offset < file.size) {
        show(offset, file.size);
        let response = null;
        try {
          response = await fetch(url, {
            method: "PATCH", credentials: "same-origin",
            headers: { ...tus(), "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
            body: file.slice(offset, offset + TUS_PIECE),
          });
        } catch {
          response = null;  // the network went away: ask where to resume
        }
        if (response && response.status === 204) { offset = offsetOf(response); failures = 0; continue; }
        if (response && response.status !== 409 && response.status < 500) throw new Error(await refusal(response));
        failures += 1;
        if (failures > 5) throw new Error(form.dataset.failed);
        await wait(1000 * failures);
        const head = await fetch(url, { method: "HEAD", headers: tus(), credentials: "same-origin" });
        if (!head.ok) throw new Error(await refusal(head));
        offset = offsetOf(head);
      }
      localStorage.removeItem(remembered);
      show(file.size, file.size);
      const attach = new URLSearchParams({ video_id: url.split("/").pop() });
      const attached = await fetch(form.dataset.attach, {
        method: "POST", body: attach, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
      });
      if (!attached.ok) throw new Error(await refusal(attached));
      window.location.reload();
    } catch (error) {
      status.textContent = error.message || form.dataset.failed;
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
}

// A timed quiz counts down from the seconds the server measured (not the device's clock) and
// hands the answers in when the time is up; the server holds the real deadline.
function runQuizTimer(form) {
  const clock = form.querySelector("[data-remaining]");
  const spent = form.querySelector("input[name=time_spent_s]");
  const opened = Date.now();
  form.addEventListener("submit", () => { if (spent) spent.value = ((Date.now() - opened) / 1000).toFixed(1); });
  if (!clock) return;
  const end = opened + 1000 * (parseInt(clock.dataset.remaining, 10) || 0);
  const shown = clock.querySelector("[data-clock]");
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    shown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 60) clock.setAttribute("aria-live", "assertive");
    if (left === 0) { clearInterval(timer); form.requestSubmit(); }
  };
  const timer = setInterval(tick, 1000);
  tick();
}

// The tutor's answer streams in: the question is posted with fetch asking for
// text/event-stream (EventSource cannot POST), `delta` events append text as it comes, and on
// `done` the server-rendered message (Markdown, citation links, sources) replaces the raw text.
function tutorChat(form) {
  const log = document.getElementById("chat-log");
  const failure = document.getElementById("chat-error");
  const button = form.querySelector("button[type=submit]");
  const bubble = (role) => {
    const article = document.createElement("article");
    article.className = "msg " + role;
    const text = document.createElement("p");
    text.className = "pre";
    article.append(text);
    log.append(article);
    return article;
  };
  const fail = (text) => { failure.textContent = text || form.dataset.failed; failure.hidden = false; };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    const question = (body.get("content") || "").trim();
    if (!question) return;
    failure.hidden = true;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    bubble("user").firstChild.textContent = question;
    const answer = bubble("assistant");
    answer.setAttribute("aria-busy", "true");
    const text = answer.firstChild;
    answer.scrollIntoView({ block: "end" });
    try {
      const response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "text/event-stream", "X-CSRF-Token": csrfToken() },
      });
      if (!response.ok) { answer.remove(); fail(await response.text()); return; }
      form.reset();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (!data.length) continue;
          const payload = JSON.parse(data.join("\n"));
          if (name === "delta") text.textContent += payload.text;
          else if (name === "error") fail(payload.detail);
          else if (name === "done") {
            const html = await fetch(form.dataset.messagesUrl + payload.id, { credentials: "same-origin" });
            if (html.ok) answer.outerHTML = await html.text();
          }
        }
      }
    } catch (error) {
      fail();
    } finally {
      answer.removeAttribute("aria-busy");
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  });
}

// A question form holds the fields of every kind (it works without JavaScript); show only the
// chosen kind's, and disable the others so what is sent is what is seen.
function questionForm(form) {
  const kind = form.querySelector("[data-question-kind]");
  const show = () => {
    form.querySelectorAll("[data-kinds]").forEach((part) => {
      const on = part.dataset.kinds.split(" ").includes(kind.value);
      part.hidden = !on;
      part.querySelectorAll("input, textarea").forEach((field) => { field.disabled = !on; });
    });
  };
  kind.addEventListener("change", show);
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  // Buttons marked data-confirm ask before their form is sent (block a user, delete...).
  document.body.addEventListener("submit", (event) => {
    const button = event.submitter;
    const text = button && button.dataset.confirm;
    if (text && !window.confirm(text)) event.preventDefault();
  });
  document.querySelectorAll("video[data-progress-url], video[data-heartbeat-url]").forEach(trackVideo);
  document.querySelectorAll("form[data-quiz-form]").forEach(runQuizTimer);
  document.querySelectorAll("form[data-tutor-chat]").forEach(tutorChat);
  document.querySelectorAll("form[data-question-form]").forEach(questionForm);
  document.querySelectorAll("form[data-tus-upload]").forEach(tusUploader);
});
