// Kestrel documentation: mark the current page in the sidebar and add
// permalinks to headings.
(function () {
  "use strict";

  function samePage(a, b) {
    var strip = function (url) {
      return url.split("#")[0].replace(/index\.html$/, "");
    };
    return strip(a) === strip(b);
  }

  document.querySelectorAll(".sidebar a").forEach(function (link) {
    if (samePage(link.href, window.location.href)) {
      link.classList.add("current");
      link.setAttribute("aria-current", "page");
    }
  });

  document.querySelectorAll(".content h1[id], .content h2[id]").forEach(function (heading) {
    var anchor = document.createElement("a");
    anchor.className = "headerlink";
    anchor.href = "#" + heading.id;
    anchor.title = "Link to this heading";
    anchor.textContent = "\u00b6";
    heading.appendChild(anchor);
  });

  document.documentElement.dataset.docs = "ready";
})();
