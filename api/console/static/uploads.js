// The upload pages. While a file is checked (or an upload committed or undone) the page
// says so and its button cannot be pressed twice; the button comes back if the page is
// shown again from the browser's history. A file over the upload limit is stopped here.
"use strict";
(() => {
  const busyForms = document.querySelectorAll("form[data-busy]");
  for (const form of busyForms) {
    const button = form.querySelector("button[type=submit]");
    const label = button.textContent;
    form.addEventListener("submit", (event) => {
      // After this event (and console.js's confirm) so the form is sent, if it is.
      window.setTimeout(() => {
        if (event.defaultPrevented) {
          return;
        }
        button.disabled = true;
        button.textContent = form.dataset.busy;
        const note = form.querySelector("[data-busy-note]");
        if (note) {
          note.hidden = false;
        }
      }, 0);
    });
    window.addEventListener("pageshow", () => {
      button.disabled = false;
      button.textContent = label;
      const note = form.querySelector("[data-busy-note]");
      if (note) {
        note.hidden = true;
      }
    });
  }

  const upload = document.getElementById("upload-form");
  if (!upload) {
    return;
  }
  const input = document.getElementById("upload-file");
  const tooLarge = document.getElementById("upload-too-large");
  const maxBytes = Number(upload.dataset.maxBytes);
  const oversize = () => {
    const file = input.files && input.files[0];
    return Boolean(file && maxBytes && file.size > maxBytes);
  };
  input.addEventListener("change", () => {
    tooLarge.hidden = !oversize();
  });
  upload.addEventListener("submit", (event) => {
    // The server refuses a body over the limit too; saying so here spares the wait.
    if (oversize()) {
      event.preventDefault();
      tooLarge.hidden = false;
    }
  });
})();
