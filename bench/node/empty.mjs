// Imported by the bare ESM cold-start probe: measures what any ESM import costs (the ESM
// loader's start-up), so that it is not charged to a tracer.
export {};
