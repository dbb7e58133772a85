import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // firebase-admin and gRPC load native-ish modules at run time; keep them out of the bundle.
  serverExternalPackages: ["firebase-admin", "@google-cloud/firestore"],
  poweredByHeader: false,
  // The prompt files are read at run time; ship them with the routes that use them
  // (the admin pages' "generate now" action runs the processor too).
  outputFileTracingIncludes: { "/api/**": ["./prompts/**"], "/admin/**": ["./prompts/**"] },
};

export default nextConfig;
