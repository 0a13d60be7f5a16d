// htmx requests carry Django's CSRF token, read from its cookie (pages stay byte-identical
// when rendered twice, which a token in the markup would not allow).
document.addEventListener("htmx:configRequest", function (event) {
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) {
    event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
  }
});
