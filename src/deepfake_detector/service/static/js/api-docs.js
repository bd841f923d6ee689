// Swagger UI over this server's OpenAPI document. No validator badge (it would call
// validator.swagger.io, which the Content-Security-Policy refuses) and nothing else from afar.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  const csrf = document.querySelector('meta[name="csrf-token"]');
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      // The pages' own requests carry the CSRF token; so do the ones sent from here.
      if (csrf) request.headers["X-CSRF-Token"] = csrf.content;
      return request;
    },
  });
})();
