// Builds the storefront into web/dist for the gateway to serve: hashed files
// under assets/, web/public (pictures) copied as is. In development
// (npx vite web) calls go to a gateway on :8080 through the dev server's proxy,
// so the page and its API share one origin as they do in production.
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: { alias: { react: "preact/compat", "react-dom": "preact/compat" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // Inline assets would need data: in the Content-Security-Policy.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      "^/(mel\\.|api/)": { target: "http://127.0.0.1:8080", changeOrigin: false },
    },
  },
});
