import { defineConfig } from "vite";

// One build for both homes of the UI: the Tauri window (assets embedded by src-tauri) and
// `templesync serve` (which serves ui/dist at /). Relative asset paths work in both.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  server: {
    port: 5173,
    strictPort: true,
    // In a browser during development, the REST API of `templesync serve`.
    proxy: { "/api": "http://127.0.0.1:8787" },
  },
});
