import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // firebase-admin and gRPC load native-ish modules at run time; keep them out of the bundle.
  serverExternalPackages: ["firebase-admin", "@google-cloud/firestore"],
  poweredByHeader: false,
};

export default nextConfig;
