// Analysis page: live progress while the job runs; then the score chart, the carousels with a
// lightbox, heatmap toggling and the video with face boxes and scores drawn in sync.
"use strict";

(function () {
  const root = document.getElementById("analysis");
  if (!root) return;
  const analysis = JSON.parse(document.getElementById("analysis-data").textContent);
  const result = analysis.result;
  const STAGES = {
    queued: "Waiting in the queue",
    starting: "Starting",
    "loading model": "Loading the model",
    probe: "Reading the file",
    frames: "Finding faces in the sampled frames",
    classify: "Scoring each person",
    analysed: "Analysed, saving the result",
    finished: "Finished",
  };

  function percentText(p) {
    const v = 100 * p;
    if (v < 1) return "<1 %";
    if (v > 99) return ">99 %";
    return Math.round(v) + " %";
  }

  function secondsText(value) {  // as the page's "seconds" filter writes them
    if (value < 60) return value.toFixed(1) + " s";
    const whole = Math.round(value);
    const rest = whole % 60;
    return Math.floor(whole / 60) + " min " + (rest < 10 ? "0" : "") + rest + " s";
  }

  function scoreColour(score, alpha) {
    const hue = Math.round(120 * (1 - Math.max(0, Math.min(1, score))));
    return "hsla(" + hue + ", 85%, 45%, " + (alpha === undefined ? 1 : alpha) + ")";
  }

  // -- live progress -----------------------------------------------------------------------

  function followProgress() {
    const bar = document.getElementById("job-bar");
    const stage = document.getElementById("job-stage");
    const percent = document.getElementById("job-percent");
    const panel = document.getElementById("progress-panel");
    let failures = 0;

    function show(data) {
      const value = data.progress.percent;
      bar.value = value;
      percent.textContent = Math.round(value) + " %";
      const key = data.status === "queued" ? "queued" : data.progress.stage || data.status;
      stage.textContent = STAGES[key] || key;
      stage.dataset.stage = key;
      root.dataset.status = data.status;
    }

    function poll() {
      fetch(root.dataset.api, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 404) throw new Error("gone");
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          show(data);
          if (data.status === "done" || data.status === "failed") {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, 600);
        })
        .catch(function (error) {
          if (error.message === "gone") {
            panel.querySelector("h2").textContent = "This analysis was deleted.";
            return;
          }
          failures += 1;
          window.setTimeout(poll, Math.min(10000, 600 * Math.pow(2, failures)));
        });
    }
    show(analysis);
    poll();
  }

  if (analysis.status === "queued" || analysis.status === "running") {
    followProgress();
  }

  // -- lightbox and carousels --------------------------------------------------------------

  const lightbox = document.getElementById("lightbox");
  const lightboxImage = document.getElementById("lightbox-image");
  const lightboxCaption = document.getElementById("lightbox-caption");
  let lightboxItems = [];
  let lightboxIndex = 0;

  function showLightboxItem(index) {
    lightboxIndex = (index + lightboxItems.length) % lightboxItems.length;
    const img = lightboxItems[lightboxIndex];
    lightboxImage.src = img.dataset.full || img.src;
    lightboxImage.alt = img.alt;
    lightboxCaption.textContent = img.dataset.caption || img.alt;
  }

  document.querySelectorAll("[data-carousel]").forEach(function (carousel) {
    const track = carousel.querySelector(".carousel-track");
    const images = Array.prototype.slice.call(track.querySelectorAll("img"));
    track.tabIndex = 0;
    function step(direction) {
      track.scrollBy({ left: direction * Math.max(120, track.clientWidth * 0.8), behavior: "smooth" });
    }
    carousel.querySelector(".carousel-prev").addEventListener("click", function () { step(-1); });
    carousel.querySelector(".carousel-next").addEventListener("click", function () { step(1); });
    images.forEach(function (img, index) {
      img.addEventListener("click", function () {
        lightboxItems = images;
        showLightboxItem(index);
        if (!lightbox.open) lightbox.showModal();
      });
    });
  });

  if (lightbox) {
    lightbox.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight") showLightboxItem(lightboxIndex + 1);
      if (event.key === "ArrowLeft") showLightboxItem(lightboxIndex - 1);
    });
    lightbox.addEventListener("click", function (event) {
      if (event.target === lightbox) lightbox.close();  // a click on the backdrop
    });
  }

  // -- heatmaps, drawn after the verdict: wait for them, then show them in place --------------

  // A crop whose map does not point at the face keeps its plain image, with a label.
  function markNoRegion(img) {
    if (img.hasAttribute("data-no-region")) return;
    img.setAttribute("data-no-region", "");
    img.dataset.caption += " · heatmap: no clear region";
    const label = document.createElement("span");
    label.className = "heatmap-label";
    label.textContent = "no clear region";
    img.insertAdjacentElement("afterend", label);
  }

  // The toggle names how many crops have a heatmap to switch (none: no toggle).
  function labelToggle() {
    const showing = heatmapToggle.getAttribute("aria-pressed") === "true";
    const count = document.querySelectorAll("img[data-heatmap]").length;
    heatmapToggle.textContent = (showing ? "Hide" : "Show") + " heatmaps (" + count + ")";
    heatmapToggle.hidden = count === 0;
  }

  function showHeatmaps(heatmaps, checks, evidence) {
    const showing = heatmapToggle.getAttribute("aria-pressed") === "true";
    document.querySelectorAll("img[data-crop-key]").forEach(function (img) {
      const check = checks[img.dataset.cropKey];
      if (check && !check.shown) {
        markNoRegion(img);
        return;
      }
      const heat = heatmaps[img.dataset.cropKey];
      if (!heat) return;
      img.dataset.heatmap = evidence + heat;
      if (showing) {
        img.src = img.dataset.heatmap;
        img.dataset.full = img.src;
      }
    });
  }

  // Polls this analysis every `everyMs` while `isPending(data)`, then calls `done(data)`;
  // network errors back off, and after eight in a row `gaveUp()` (if given) is called.
  function pollAnalysis(everyMs, isPending, done, gaveUp) {
    let failures = 0;
    function poll() {
      fetch(root.dataset.api, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          if (isPending(data)) {
            window.setTimeout(poll, everyMs);
            return;
          }
          done(data);
        })
        .catch(function () {
          failures += 1;
          if (failures < 8) {
            window.setTimeout(poll, Math.min(10000, 1000 * Math.pow(2, failures)));
          } else if (gaveUp) {
            gaveUp();
          }
        });
    }
    poll();
  }

  function waitForHeatmaps() {
    const pending = document.getElementById("heatmaps-pending");
    const ready = document.getElementById("heatmaps-ready");
    const none = document.getElementById("no-heatmaps");
    pollAnalysis(
      1000,
      function (data) { return data.heatmaps_state === "pending"; },
      function (data) {
        pending.hidden = true;
        const checks = data.heatmap_checks || {};
        const shown = Object.keys(data.heatmaps).length;
        const drawn = Object.keys(checks).length || shown;
        if (data.heatmaps_state === "ready" && drawn) {
          showHeatmaps(data.heatmaps, checks, data.links.evidence);
          if (drawn < document.querySelectorAll("img[data-crop-key]").length) {
            document.getElementById("heatmaps-count").textContent = String(drawn);
            document.getElementById("heatmaps-partial").hidden = false;
          }
          if (drawn > shown) {
            document.getElementById("heatmaps-unclear-count").textContent = String(drawn - shown);
            document.getElementById("heatmaps-unclear").hidden = false;
          }
          labelToggle();
          ready.hidden = false;
        } else {
          none.hidden = false;
        }
        document.getElementById("heatmaps-hint").dataset.state = data.heatmaps_state;
      }
    );
  }

  const heatmapToggle = document.getElementById("toggle-heatmaps");
  if (analysis.status === "done" && analysis.heatmaps_state === "pending" && heatmapToggle) {
    waitForHeatmaps();
  }
  if (heatmapToggle) {
    heatmapToggle.addEventListener("click", function () {
      const showing = heatmapToggle.getAttribute("aria-pressed") === "true";
      heatmapToggle.setAttribute("aria-pressed", showing ? "false" : "true");
      labelToggle();
      document.querySelectorAll("img[data-heatmap]").forEach(function (img) {
        img.src = showing ? img.dataset.crop : img.dataset.heatmap;
        img.dataset.full = img.src;
      });
    });
  }

  // -- actions -----------------------------------------------------------------------------

  const deleteForm = document.getElementById("delete-form");
  if (deleteForm) {
    deleteForm.addEventListener("submit", function (event) {
      if (!window.confirm(deleteForm.dataset.confirm)) event.preventDefault();
    });
  }
  const permalink = document.getElementById("permalink");
  if (permalink) {
    permalink.addEventListener("focus", function () { permalink.select(); });
  }

  if (!result || !result.faces) return;

  // -- people's tracks: a box and a score at any time t (interpolated between samples) -------

  const video = document.getElementById("video");
  // A photo is shown as an image with the same overlay, at time 0.
  const photo = document.getElementById("photo");
  const picture = video || photo;
  const sampleTimes = (result.sampled_frames || []).map(function (f) { return f.time_s; });
  const gaps = [];
  for (let i = 1; i < sampleTimes.length; i++) gaps.push(sampleTimes[i] - sampleTimes[i - 1]);
  gaps.sort(function (a, b) { return a - b; });
  const step = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1;

  const tracks = result.faces.map(function (face, n) {
    return {
      label: "Person " + (n + 1),
      frames: face.frames.slice().sort(function (a, b) { return a.time_s - b.time_s; }),
      probability: face.fake_probability,
    };
  });

  function lerp(a, b, w) { return a + (b - a) * w; }

  function trackAt(track, t) {
    const frames = track.frames;
    if (!frames.length) return null;
    const first = frames[0];
    const last = frames[frames.length - 1];
    if (t < first.time_s - step / 2 || t > last.time_s + step / 2) return null;
    if (t <= first.time_s) return { box: first.box, score: first.score };
    if (t >= last.time_s) return { box: last.box, score: last.score };
    for (let i = 0; i < frames.length - 1; i++) {
      const a = frames[i];
      const b = frames[i + 1];
      if (t < a.time_s || t > b.time_s) continue;
      const span = b.time_s - a.time_s;
      if (span > 2.5 * step) {  // the person was missing in between: show only near a sample
        if (t - a.time_s <= step / 2) return { box: a.box, score: a.score };
        if (b.time_s - t <= step / 2) return { box: b.box, score: b.score };
        return null;
      }
      const w = span > 0 ? (t - a.time_s) / span : 0;
      return {
        box: [0, 1, 2, 3].map(function (k) { return lerp(a.box[k], b.box[k], w); }),
        score: lerp(a.score, b.score, w),
      };
    }
    return null;
  }

  // -- video overlay -----------------------------------------------------------------------

  const overlay = document.getElementById("overlay");
  let drawCount = 0;

  function drawOverlay() {
    if (!picture || !overlay || !result.video) return;
    const ctx = overlay.getContext("2d");
    const ratio = window.devicePixelRatio || 1;
    const width = picture.clientWidth;
    const height = picture.clientHeight;
    if (overlay.width !== Math.round(width * ratio) || overlay.height !== Math.round(height * ratio)) {
      overlay.width = Math.round(width * ratio);
      overlay.height = Math.round(height * ratio);
      overlay.style.width = width + "px";
      overlay.style.height = height + "px";
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    // Boxes are in the upright frame's pixels (result.video.width x height). The element shows
    // its picture letterboxed (object-fit: contain) in the picture's own shape and size, which
    // may be the smaller playable copy or have non-square pixels: boxes scale to that picture.
    const frameW = result.video.width;
    const frameH = result.video.height;
    const naturalW = (video && video.videoWidth) || (photo && photo.naturalWidth) || frameW;
    const naturalH = (video && video.videoHeight) || (photo && photo.naturalHeight) || frameH;
    const fit = Math.min(width / naturalW, height / naturalH);
    const picW = naturalW * fit;
    const picH = naturalH * fit;
    const offsetX = (width - picW) / 2;
    const offsetY = (height - picH) / 2;
    const scaleX = picW / frameW;
    const scaleY = picH / frameH;
    const t = video ? video.currentTime : 0;
    let boxes = 0;
    const labelBoxes = [];
    const boxRects = [];
    ctx.lineWidth = 3;
    ctx.font = "600 14px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    tracks.forEach(function (track) {
      const here = trackAt(track, t);
      if (!here) return;
      const x = offsetX + here.box[0] * scaleX;
      const y = offsetY + here.box[1] * scaleY;
      const w = (here.box[2] - here.box[0]) * scaleX;
      const h = (here.box[3] - here.box[1]) * scaleY;
      boxRects.push([x, y, x + w, y + h]);
      const colour = scoreColour(here.score);
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, w, h);
      const label = track.label + " · " + percentText(here.score);
      const textW = ctx.measureText(label).width + 10;
      // Above the box, or below it when there is no room; kept inside the video's own picture
      // (on a phone a face near the edge would otherwise push its label off the frame).
      let labelY = y > 22 ? y - 2 : y + h + 22;
      labelY = Math.min(Math.max(labelY, offsetY + 20), offsetY + picH);
      const labelX = Math.max(offsetX, Math.min(x - 1.5, offsetX + picW - textW));
      ctx.fillStyle = colour;
      ctx.fillRect(labelX, labelY - 20, textW, 20);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, labelX + 5.5, labelY - 3);
      labelBoxes.push([labelX, labelY - 20, labelX + textW, labelY]);
      boxes += 1;
    });
    drawCount += 1;
    // For the tests: where the labels were drawn, in CSS pixels of the overlay.
    overlay.dataset.labels = JSON.stringify(labelBoxes.map(function (b) {
      return b.map(function (v) { return Math.round(v * 10) / 10; });
    }));
    overlay.dataset.boxes = String(boxes);
    overlay.dataset.rects = JSON.stringify(boxRects.map(function (b) {
      return b.map(function (v) { return Math.round(v * 10) / 10; });
    }));
    overlay.dataset.draws = String(drawCount);
    overlay.dataset.time = t.toFixed(3);
  }

  // -- the player: the upload, or its playable copy; a clear message when neither plays -------

  const player = document.getElementById("player");
  const previewPending = document.getElementById("preview-pending");

  function cannotPlay(why) {
    // An error, or no picture (videoWidth 0: e.g. MPEG-4 Part 2 in MP4 plays its sound only):
    // say so instead of showing a black strip with boxes floating over it.
    video.pause();
    player.hidden = true;
    document.getElementById("video-error").hidden = false;
    const note = document.getElementById("preview-note");
    if (note) note.hidden = true;
    root.dataset.playback = "unplayable";
    root.dataset.unplayable = typeof why === "string" ? why : "error";
  }

  function checkPicture() {
    if (!video.getAttribute("src")) return;
    if (video.videoWidth === 0 || video.videoHeight === 0) {
      cannotPlay("no picture");
      return;
    }
    root.dataset.playback = video.dataset.source || "original";
    drawOverlay();
  }

  function playFrom(url, source) {
    video.dataset.source = source;
    video.setAttribute("src", url);
    player.hidden = false;
    if (previewPending) previewPending.hidden = true;
  }

  function showPreviewNote(preview) {
    const note = document.getElementById("preview-note");
    if (!note) return;
    if (preview.cut) {
      document.getElementById("preview-covers").textContent = secondsText(preview.covers_s);
      document.getElementById("preview-cut").hidden = false;
    }
    note.hidden = false;
  }

  function waitForPreview() {
    const playOriginal = function () { playFrom(video.dataset.original, "original"); };
    pollAnalysis(
      1500,
      function (data) { return (data.preview || {}).state === "pending"; },
      function (data) {
        const preview = data.preview || { state: "none" };
        if (preview.state === "ready" && data.links.preview) {
          showPreviewNote(preview);
          playFrom(data.links.preview, "preview");
        } else {  // no copy after all: try the upload itself (a clear message if it fails)
          playOriginal();
        }
      },
      playOriginal
    );
  }

  if (video && player) {
    video.addEventListener("error", cannotPlay);
    video.addEventListener("loadedmetadata", checkPicture);
    if (video.error) cannotPlay();
    else if (video.readyState >= 1) checkPicture();
    if (analysis.preview && analysis.preview.state === "pending" && !video.getAttribute("src")) {
      waitForPreview();
    }
  }

  if (video && overlay) {
    const useFrameCallback = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
    function onFrame() {
      drawOverlay();
      if (useFrameCallback) video.requestVideoFrameCallback(onFrame);
    }
    function loop() {
      drawOverlay();
      if (!video.paused && !video.ended) window.requestAnimationFrame(loop);
    }
    if (useFrameCallback) video.requestVideoFrameCallback(onFrame);
    video.addEventListener("play", function () { window.requestAnimationFrame(loop); });
    ["loadeddata", "seeked", "pause", "timeupdate"].forEach(function (type) {
      video.addEventListener(type, drawOverlay);
    });
    window.addEventListener("resize", drawOverlay);
    drawOverlay();
  }

  if (photo && overlay) {
    if (photo.complete) drawOverlay();
    photo.addEventListener("load", drawOverlay);
    window.addEventListener("resize", drawOverlay);
  }

  // -- chart ---------------------------------------------------------------------------------

  const chartCanvas = document.getElementById("score-chart");
  if (chartCanvas && window.Chart && tracks.length) {
    const palette = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2"];
    const duration = result.video ? result.video.duration_s : null;
    const threshold = result.threshold === null || result.threshold === undefined ? 0.5 : result.threshold;
    const datasets = tracks.map(function (track, n) {
      const colour = palette[n % palette.length];
      return {
        label: track.label + " (" + percentText(track.probability) + ")",
        data: track.frames.map(function (f) { return { x: f.time_s, y: f.score }; }),
        borderColor: colour,
        backgroundColor: colour,
        pointRadius: 4,
        pointHoverRadius: 6,
        tension: 0.2,
      };
    });
    datasets.push({
      label: "Threshold (" + percentText(threshold) + ")",
      data: [{ x: 0, y: threshold }, { x: duration || sampleTimes[sampleTimes.length - 1] || 1, y: threshold }],
      borderColor: "#6b7280",
      borderDash: [6, 4],
      borderWidth: 1.5,
      pointRadius: 0,
      pointHoverRadius: 0,
    });
    const nowLine = {
      id: "nowLine",
      afterDatasetsDraw: function (chart) {
        if (!video || !video.currentTime) return;
        const x = chart.scales.x.getPixelForValue(video.currentTime);
        const area = chart.chartArea;
        if (x < area.left || x > area.right) return;
        const ctx = chart.ctx;
        ctx.save();
        ctx.strokeStyle = "rgba(17, 24, 39, 0.55)";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, area.top);
        ctx.lineTo(x, area.bottom);
        ctx.stroke();
        ctx.restore();
      },
    };
    const chart = new window.Chart(chartCanvas, {
      type: "line",
      data: { datasets: datasets },
      plugins: [nowLine],
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: {
            type: "linear",
            min: 0,
            max: duration || undefined,
            title: { display: true, text: "time in the video (seconds)" },
          },
          y: {
            min: 0,
            max: 1,
            title: { display: true, text: "fake score" },
            ticks: { callback: function (v) { return Math.round(v * 100) + " %"; } },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label.split(" (")[0] + ": " + percentText(item.parsed.y) + " at " + item.parsed.x.toFixed(2) + " s";
              },
            },
          },
        },
        onClick: function (event, elements) {
          if (!video || !elements.length) return;
          const point = elements[0];
          const value = chart.data.datasets[point.datasetIndex].data[point.index];
          video.currentTime = value.x;
        },
      },
    });
    chartCanvas.dataset.ready = "true";
    chartCanvas.dataset.series = String(tracks.length);
    if (video) {
      video.addEventListener("timeupdate", function () { chart.draw(); });
      video.addEventListener("seeked", function () { chart.draw(); });
    }
  }
})();
