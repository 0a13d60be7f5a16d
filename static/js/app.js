// htmx requests carry Django's CSRF token, read from its cookie (pages stay byte-identical
// when rendered twice, which a token in the markup would not allow).
document.addEventListener("htmx:configRequest", function (event) {
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) {
    event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
  }
});

// A button with data-copy="<id>" copies that element's text (shown only where scripts run).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Select and copy it by hand";
      });
    });
  });
});

// The header's menu button (hidden until this runs, so without scripts the menu stays open):
// it opens and closes the menu; Escape closes it and gives the focus back to the button.
(function () {
  var toggle = document.querySelector("header.top .menu-toggle");
  if (!toggle) {
    return;
  }
  var menu = document.getElementById(toggle.getAttribute("aria-controls"));
  function setOpen(open) {
    menu.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });
  toggle.parentElement.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });
})();

// A panel whose table is wider than the screen scrolls sideways, as does a long example in a
// <pre>; one with no link or field in it takes the focus itself (tabindex), so the keyboard
// can scroll it too.
function makeScrollingPanelsFocusable() {
  document.querySelectorAll(".panel, pre").forEach(function (panel) {
    var scrolls = panel.scrollWidth > panel.clientWidth;
    var focusable = panel.querySelector("a[href], button, input, select, textarea, [tabindex]");
    if (scrolls && !focusable) {
      panel.tabIndex = 0;
      panel.dataset.scrollFocus = "";
    } else if ("scrollFocus" in panel.dataset) {
      panel.removeAttribute("tabindex");
      delete panel.dataset.scrollFocus;
    }
  });
}
makeScrollingPanelsFocusable();
window.addEventListener("resize", makeScrollingPanelsFocusable);
document.addEventListener("htmx:afterSettle", makeScrollingPanelsFocusable);
