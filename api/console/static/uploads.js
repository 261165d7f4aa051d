// The upload pages: while a file is checked, say so and keep the button from a second
// submit (a large sheet takes a while); put the button back if the page is shown again
// from the browser's history.
"use strict";
(() => {
  const form = document.getElementById("upload-form");
  if (!form) {
    return;
  }
  const button = document.getElementById("upload-submit");
  const busy = document.getElementById("upload-busy");
  const label = button.textContent;
  const input = document.getElementById("upload-file");
  const tooLarge = document.getElementById("upload-too-large");
  const maxBytes = Number(form.dataset.maxBytes);
  const oversize = () => {
    const file = input.files && input.files[0];
    return Boolean(file && maxBytes && file.size > maxBytes);
  };
  input.addEventListener("change", () => {
    tooLarge.hidden = !oversize();
  });
  form.addEventListener("submit", (event) => {
    // The server refuses a body over the limit too; saying so here spares the wait.
    if (oversize()) {
      event.preventDefault();
      tooLarge.hidden = false;
      return;
    }
    // Disabled after this event, so the form is still sent (and only if it is).
    window.setTimeout(() => {
      if (event.defaultPrevented) {
        return;
      }
      button.disabled = true;
      button.textContent = "正在检查…";
      busy.hidden = false;
    }, 0);
  });
  window.addEventListener("pageshow", () => {
    button.disabled = false;
    button.textContent = label;
    busy.hidden = true;
  });
})();
