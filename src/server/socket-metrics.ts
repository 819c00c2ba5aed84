/**
 * Prometheus figures of the stock-protocol sockets, on the app's registry:
 * open sockets per protocol, messages in and out, awareness / ephemeral
 * relays between regions, and sockets closed or frames dropped by reason.
 */
import { Counter, Gauge, type Registry } from "prom-client";

export interface SocketMetrics {
  opened(protocol: string): void;
  closed(protocol: string): void;
  messageIn(protocol: string): void;
  messageOut(protocol: string): void;
  relayed(protocol: string, direction: "sent" | "received"): void;
  rejected(protocol: string, reason: string): void;
}

export function createSocketMetrics(registry: Registry): SocketMetrics {
  const open = new Gauge({ name: "concord_sockets_open", help: "Open stock-protocol sockets by protocol", labelNames: ["protocol"], registers: [registry] });
  const messages = new Counter({ name: "concord_socket_messages_total", help: "Protocol messages by protocol and direction", labelNames: ["protocol", "direction"], registers: [registry] });
  const relays = new Counter({ name: "concord_presence_relays_total", help: "Presence (awareness, ephemeral) messages relayed between regions", labelNames: ["protocol", "direction"], registers: [registry] });
  const rejected = new Counter({ name: "concord_socket_rejected_total", help: "Sockets refused or closed and frames dropped, by reason", labelNames: ["protocol", "reason"], registers: [registry] });
  return {
    opened: (protocol) => open.inc({ protocol }),
    closed: (protocol) => open.dec({ protocol }),
    messageIn: (protocol) => messages.inc({ protocol, direction: "in" }),
    messageOut: (protocol) => messages.inc({ protocol, direction: "out" }),
    relayed: (protocol, direction) => relays.inc({ protocol, direction }),
    rejected: (protocol, reason) => rejected.inc({ protocol, reason }),
  };
}

/** For sockets outside a region (tests): counts nothing. */
export const noSocketMetrics: SocketMetrics = { opened() {}, closed() {}, messageIn() {}, messageOut() {}, relayed() {}, rejected() {} };
