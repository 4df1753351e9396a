// Behaviour that needs no server round trip. No inline scripts: the pages' CSP forbids them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Buttons marked data-confirm ask before their form is sent (block a user, delete...).
  document.body.addEventListener("submit", (event) => {
    const button = event.submitter;
    const text = button && button.dataset.confirm;
    if (text && !window.confirm(text)) event.preventDefault();
  });
});
