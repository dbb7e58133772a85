import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = fileURLToPath(new URL("./src", import.meta.url));
// `server-only` throws outside a React Server Components bundle; tests import adapters directly.
const serverOnly = fileURLToPath(new URL("./test/support/empty-module.ts", import.meta.url));

export default defineConfig({
  resolve: { alias: { "@": src, "server-only": serverOnly } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // test/ mirrors src/ (and scripts/ under test/scripts); test/routes runs in its own project.
          include: [
            "test/*.test.ts",
            "test/core/**/*.test.ts",
            "test/pipeline/**/*.test.ts",
            "test/adapters/**/*.test.ts",
            "test/services/**/*.test.ts",
            "test/config/**/*.test.ts",
            "test/scripts/**/*.test.ts",
            "test/support/**/*.test.ts",
          ],
        },
      },
      {
        extends: true,
        test: {
          name: "routes",
          include: ["test/routes/**/*.test.ts"],
          globalSetup: ["test/support/build-next.ts", "test/support/screenshots.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
