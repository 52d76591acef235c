// Abacus: small progressive enhancements (no build step; the pages work without them).
// - popovers (<details class="popover">) close on a click elsewhere, on Escape and on submit;
// - a wide table's sorted column is scrolled into view inside its card;
// - a box that scrolls shows it: a fade on each edge with more content past it.
(function () {
  "use strict";

  var POPOVERS = "details.range-custom, details.col-chooser, details.popover";
  var SCROLLERS = ".table-wrap, .usage-periods, .commit-message pre, .scrolls";

  function closePopovers(except) {
    document.querySelectorAll(POPOVERS).forEach(function (d) {
      if (d.open && d !== except && !d.contains(except)) d.open = false;
    });
  }

  document.addEventListener("click", function (event) {
    var inside = event.target.closest ? event.target.closest(POPOVERS) : null;
    closePopovers(inside);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closePopovers(null);
  });
  document.addEventListener("submit", function (event) {
    var popover = event.target.closest ? event.target.closest(POPOVERS) : null;
    if (popover) popover.open = false;  // Apply: the choice is made, the popover goes
  });

  function fade(box) {
    var x = box.scrollWidth - box.clientWidth > 1;
    var y = box.scrollHeight - box.clientHeight > 1;
    box.classList.toggle("fade-left", x && box.scrollLeft > 1);
    box.classList.toggle("fade-right", x && box.scrollLeft < box.scrollWidth - box.clientWidth - 1);
    box.classList.toggle("fade-top", y && box.scrollTop > 1);
    box.classList.toggle("fade-bottom", y && box.scrollTop < box.scrollHeight - box.clientHeight - 1);
  }

  function showSorted(box) {
    var th = box.querySelector("th[aria-sort]");
    if (!th || box.scrollWidth <= box.clientWidth) return;
    var sticky = box.querySelector("thead th:first-child");
    var left = sticky && getComputedStyle(sticky).position === "sticky" ? sticky.offsetWidth : 0;
    var boxRect = box.getBoundingClientRect();
    var rect = th.getBoundingClientRect();
    if (rect.right > boxRect.right) {
      box.scrollLeft += rect.right - boxRect.right + 8;
    } else if (rect.left < boxRect.left + left) {
      box.scrollLeft -= boxRect.left + left - rect.left + 8;
    }
  }

  function enhance(root) {
    var boxes = [];
    if (root.matches && root.matches(SCROLLERS)) boxes.push(root);
    root.querySelectorAll(SCROLLERS).forEach(function (b) { boxes.push(b); });
    boxes.forEach(function (box) {
      showSorted(box);
      fade(box);
      if (!box.dataset.fades) {
        box.dataset.fades = "1";
        box.addEventListener("scroll", function () { fade(box); }, { passive: true });
      }
    });
  }

  function all() { enhance(document); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", all);
  } else {
    all();
  }
  window.addEventListener("resize", all);
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target); });
  document.addEventListener("toggle", function () { all(); }, true);  // a <details> opened
})();
