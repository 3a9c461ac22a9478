// Pola's storefront: small conveniences over pages that work without JavaScript.
(function () {
  "use strict";
  // A choice that changes what the page shows (a district, a quantity) sends its form.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
      if (field.form.requestSubmit) field.form.requestSubmit(); else field.form.submit();
    }
  });
  // A form to send at once (the way to PayHere's checkout): the button stays for those without
  // JavaScript, and for the moment before the browser leaves.
  var now = document.querySelector("form[data-autosubmit-now]");
  if (now) now.submit();
  // One click places one order: the button is disabled while the form is on its way.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button.primary");
    if (button) setTimeout(function () { button.disabled = true; }, 0);
  });
  // Waiting for PayHere's word: look again in a few seconds.
  var waiting = document.querySelector("[data-refresh]");
  if (waiting) {
    setTimeout(function () { window.location.reload(); }, 1000 * Number(waiting.getAttribute("data-refresh")));
  }
  // The variant picked shows its price in the heading.
  var price = document.getElementById("price");
  document.querySelectorAll(".variant input[type=radio]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      var shown = radio.parentNode.querySelector(".vprice");
      if (price && shown) price.textContent = shown.textContent;
    });
  });
})();
