// The guest screen: state from /events (server-sent events), the touch button posts /press.
// No framework, no external asset; everything here is compiled into the postbooth binary.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const live = $("live"), result = $("result"), slideshow = $("slideshow");
  const count = $("count"), message = $("message"), flash = $("flash"), press = $("press");
  let state = null;
  let idleSince = Date.now();
  let showPhotoUntil = 0;
  let slides = [], slideIndex = 0, slideTimer = null;

  function show(section) {
    for (const s of [live, result, slideshow]) s.hidden = s !== section;
  }

  function photoWords(s) {
    const p = s.photo;
    if (p.posted) return ["Posted ✓", "", "Scan to see the post"];
    if (s.screen === "ask") return ["Press again to post", s.secs + " s", "Scan to take your photo home"];
    if (p.state === "Held") return ["Saved ✓", "it is posted once the staff approve it", "Scan to take your photo home"];
    if (p.state === "Private") return ["Saved ✓", "kept private: not posted", "Scan to take your photo home"];
    if (s.screen === "offline") return ["Saved ✓", "will post when online", "Scan to take your photo home"];
    return ["Saved ✓", "posting…", "Scan to take your photo home"];
  }

  function render(s) {
    const before = state;
    state = s;
    document.body.dataset.screen = s.screen;
    press.hidden = !s.press;
    press.textContent = s.screen === "ask" ? "Post it!" : "Take a photo";
    $("preview").classList.toggle("mirror", !!s.mirror);
    flash.hidden = s.screen !== "smile";
    const busy = ["countdown", "smile", "saving"].includes(s.screen);
    press.disabled = busy;
    if (s.screen !== "idle") idleSince = Date.now();
    if (busy) {
      stopSlides();
      show(live);
      count.textContent = s.screen === "countdown" ? String(s.secs) : "";
      message.textContent = s.screen === "saving" ? "Saving…" : s.screen === "smile" ? "Smile!" : "";
      return;
    }
    count.textContent = "";
    message.textContent = ["camera", "notice"].includes(s.screen) ? s.top + " " + s.bottom : "";
    const photoScreens = ["saved", "ask", "willpost", "publishing", "posted", "offline"];
    const fresh = s.photo && (!before || !before.photo || before.photo.id !== s.photo.id);
    if (s.photo && (photoScreens.includes(s.screen) || fresh)) showPhotoUntil = Date.now() + 30000;
    if (s.photo && (photoScreens.includes(s.screen) || Date.now() < showPhotoUntil)) {
      stopSlides();
      const img = $("photo-img");
      if (img.getAttribute("src") !== s.photo.src) img.src = s.photo.src;
      const [title, sub, caption] = photoWords(s);
      $("status-text").textContent = title;
      $("status-sub").textContent = sub;
      $("qr-caption").textContent = caption;
      const qr = $("qr");
      if (qr.dataset.target !== s.photo.qr_target) {
        qr.dataset.target = s.photo.qr_target;
        qr.innerHTML = s.photo.qr || "";
      }
      show(result);
      return;
    }
    if (!slideTimer) show(live);
  }

  function stopSlides() {
    if (slideTimer) clearInterval(slideTimer);
    slideTimer = null;
  }

  async function nextSlide() {
    if (slideIndex === 0) {
      try { slides = await (await fetch("/slides")).json(); } catch (e) { slides = []; }
    }
    if (!slides.length) { stopSlides(); show(live); return; }
    $("slide").src = slides[slideIndex % slides.length];
    slideIndex = (slideIndex + 1) % slides.length;
    show(slideshow);
  }

  setInterval(() => {
    if (!state) return;
    const after = state.slideshow_after_secs;
    if (state.screen === "idle" && Date.now() >= showPhotoUntil && !result.hidden) show(live);
    if (state.screen === "idle" && after > 0 && !slideTimer &&
        Date.now() - idleSince > after * 1000 && Date.now() >= showPhotoUntil) {
      slideIndex = 0;
      nextSlide();
      slideTimer = setInterval(nextSlide, 5000);
    }
  }, 1000);

  press.addEventListener("click", () => {
    stopSlides();
    idleSince = Date.now();
    fetch("/press", { method: "POST", headers: { "X-Postbooth": "press" } });
  });
  for (const el of [slideshow]) el.addEventListener("click", () => { stopSlides(); idleSince = Date.now(); show(live); });

  // The preview stream starts after the page has loaded: a camera with no frame to show (an
  // empty camera folder, a camera unplugged) would otherwise keep the page loading for ever.
  const startPreview = () => { $("preview").src = "/preview.mjpg"; };
  if (document.readyState === "complete") startPreview();
  else window.addEventListener("load", startPreview);

  const events = new EventSource("/events");
  events.addEventListener("state", (e) => render(JSON.parse(e.data)));
})();
