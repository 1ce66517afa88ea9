// Loads gatehouse-cloud.proto into a gRPC client and service at run time (no codegen). Its own module so
// the gRPC libraries are loaded only by a hub with the cloud link on (hub/cloud/mirror.ts imports it
// when it starts) and by the development cloud.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type HubLinkClientConstructor, type HubLinkDefinition, protoPath } from './proto.js';

export { grpc };

let cached: HubLinkDefinition | undefined;

export function loadHubLink(): HubLinkDefinition {
  if (cached) return cached;
  const definition = protoLoader.loadSync(protoPath(), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    gatehouse: { cloud: { v1: { HubLink: HubLinkClientConstructor & { service: grpc.ServiceDefinition } } } };
  };
  const HubLink = loaded.gatehouse.cloud.v1.HubLink;
  cached = { Client: HubLink, service: HubLink.service };
  return cached;
}
