// The demo's "payment" Lambda function, traced with oxray.
//
// `import { Tracer } from 'oxray'` is the only line that differs from a Powertools function.
// The handler validates the order, charges the card at the bank with fetch (traced on its own)
// and returns a receipt; a declined card throws PaymentDeclined, which the trace records as a
// fault with its message and stack.
import { Tracer } from 'oxray';

const tracer = new Tracer(); // service name from POWERTOOLS_SERVICE_NAME

const BANK_URL = process.env.BANK_URL ?? 'http://127.0.0.1:8080';

export class PaymentDeclined extends Error {
  name = 'PaymentDeclined';
}

class Payment {
  async handler(event, _context) {
    tracer.putAnnotation('OrderId', event.order_id);
    const order = this.validateOrder(event);
    tracer.putAnnotation('Amount', order.amount);
    const answer = await this.chargeCard(order, event.card);
    const receipt = { ...order, authorization: answer.authorization };
    tracer.putMetadata('receipt', receipt);
    return { statusCode: 200, body: JSON.stringify(receipt) };
  }

  validateOrder(event) {
    const amount = Math.round(Number(event.amount) * 100) / 100;
    if (!(amount > 0)) throw new RangeError(`invalid amount ${event.amount}`);
    const order = { orderId: event.order_id, amount, currency: event.currency ?? 'EUR' };
    tracer.putAnnotation('Currency', order.currency);
    return order;
  }

  async chargeCard(order, card) {
    const query = new URLSearchParams({ amount: String(order.amount), card });
    const response = await fetch(`${BANK_URL}/charge?${query}`, { signal: AbortSignal.timeout(5000) });
    const answer = await response.json();
    tracer.putMetadata('bankAnswer', answer);
    if (!response.ok) throw new PaymentDeclined(`card ending ${card.slice(-4)} declined: ${answer.reason}`);
    return answer;
  }
}

// Plain JavaScript has no `@decorator` syntax yet: apply the decorators as TypeScript would
// (`@tracer.captureLambdaHandler()` above `handler`, `@tracer.captureMethod()` above the others).
function decorate(cls, method, decorator) {
  cls.prototype[method] = decorator(cls.prototype[method], { kind: 'method', name: method });
}
decorate(Payment, 'handler', tracer.captureLambdaHandler());
decorate(Payment, 'validateOrder', tracer.captureMethod());
decorate(Payment, 'chargeCard', tracer.captureMethod());

const payment = new Payment();
export const handler = payment.handler.bind(payment);
