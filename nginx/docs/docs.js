// Swagger UI over the REST API's openapi.yaml, served beside this page. "Try it out" calls /api/v1 on
// this same origin, so both ways of passing the token work: log in (POST /auth/login) and the browser
// keeps the ath cookie and sends it with every call after; or paste the token into Authorize
// (bearerAuth), which sends it as Authorization: Bearer.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    // Swagger UI would otherwise send the spec to validator.swagger.io: the page makes no call out.
    validatorUrl: null,
  });
});
