// Upload page: drag-and-drop or file picker, type and size checked before sending, an upload
// progress bar, then straight to the analysis page. Without this script the form still works.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("drop-zone");
  const errorBox = document.getElementById("file-error");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const nameBox = document.getElementById("upload-name");
  const maxBytes = Number(form.dataset.maxBytes);
  const token = document.querySelector('meta[name="csrf-token"]').content;
  // The suffixes the server's one formats table lists, from the input's accept attribute.
  const extensions = input.accept
    .split(",")
    .filter(function (item) { return item.startsWith("."); })
    .map(function (item) { return item.slice(1).toLowerCase(); });
  let busy = false;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function megabytes(n) {
    return (n / 1e6).toFixed(n < 1e7 ? 1 : 0) + " MB";
  }

  // Why: a clear message now beats a long upload refused at the end. The server checks again,
  // by probing the content, whatever the browser says.
  function problemWith(file) {
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    const looksLikeMedia = extensions.includes(ext) ||
      file.type.startsWith("video/") || file.type.startsWith("image/");
    if (!looksLikeMedia) return "“" + file.name + "” is not a video or photo file.";
    if (file.size === 0) return "“" + file.name + "” is empty.";
    if (file.size > maxBytes) {
      return "“" + file.name + "” is " + megabytes(file.size) + "; the limit is " + megabytes(maxBytes) + ".";
    }
    return null;
  }

  function send(file) {
    if (busy) return;
    const problem = problemWith(file);
    if (problem) { showError(problem); return; }
    showError("");
    busy = true;
    zone.classList.add("disabled");
    nameBox.textContent = file.name;
    progress.hidden = false;
    bar.value = 0;

    const data = new FormData();
    data.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      const value = Math.round((100 * event.loaded) / event.total);
      bar.value = value;
      percent.textContent = value + " %";
    });
    xhr.addEventListener("load", function () {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.url) {
        bar.value = 100;
        percent.textContent = "100 %";
        window.location.assign(body.url);
        return;
      }
      const message = body && body.error ? body.error.message : "The upload failed (HTTP " + xhr.status + ").";
      fail(message);
    });
    xhr.addEventListener("error", function () { fail("The upload was interrupted. Check the connection and try again."); });
    xhr.send(data);
  }

  function fail(message) {
    busy = false;
    zone.classList.remove("disabled");
    progress.hidden = true;
    input.value = "";
    showError(message);
  }

  input.addEventListener("change", function () {
    if (input.files && input.files.length) send(input.files[0]);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files && input.files.length) send(input.files[0]);
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    if (files.length > 1) { showError("Drop one video at a time."); return; }
    send(files[0]);
  });
  // A file dropped outside the zone must not make the browser navigate away to it.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });
})();
