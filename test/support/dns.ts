import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

/**
 * A test resolver: answers A queries for the names in `records` (and NXDOMAIN for the rest) on UDP
 * host:port. Stands in for the resolver a VPN brings up. Test code only.
 */
export async function startTestResolver(
  host: string,
  port: number,
  records: Record<string, string>,
): Promise<{ queries: string[]; close(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    queries.push(question.name);
    const address = question.type === 'A' ? records[question.name.toLowerCase()] : undefined;
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags:
        dnsPacket.RECURSION_DESIRED |
        dnsPacket.RECURSION_AVAILABLE |
        (address || records[question.name.toLowerCase()] ? 0 : 3),
      questions: [question],
      answers: address ? [{ type: 'A', class: 'IN', name: question.name, ttl: 5, data: address }] : [],
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => resolve());
  });
  return { queries, close: () => new Promise((resolve) => sock.close(() => resolve())) };
}
