// A bundle sent by the unmodified @flashbots/ethers-provider-bundle (ethers v6) to
// `mevauction serve --chain URL`: the service is both the relay (eth_sendBundle, signed
// with X-Flashbots-Signature) and the provider (its node reads pass through), and the
// client's own wait() decides whether the bundle landed in its target block.
// usage: node flashbots_bundle.cjs SERVICE_URL SENDER_KEY AUTH_KEY TO
const { ethers } = require("ethers");
const { FlashbotsBundleProvider, FlashbotsBundleResolution } = require("@flashbots/ethers-provider-bundle");

async function main() {
  const [url, senderKey, authKey, to] = process.argv.slice(2);
  const provider = new ethers.JsonRpcProvider(url, undefined, { pollingInterval: 200 });
  const network = await provider.getNetwork();
  const flashbots = await FlashbotsBundleProvider.create(provider, new ethers.Wallet(authKey), url, Number(network.chainId));
  const sender = new ethers.Wallet(senderKey, provider);
  const target = (await provider.getBlockNumber()) + 1;
  const nonce = await provider.getTransactionCount(sender.address, "latest");
  const transaction = { chainId: network.chainId, type: 2, to, value: 12345n, gasLimit: 21000n, nonce,
                        maxFeePerGas: 100n * 10n ** 9n, maxPriorityFeePerGas: 2n * 10n ** 9n };
  const signed = await flashbots.signBundle([{ signer: sender, transaction }]);
  // eth_callBundle through the client's simulate(): Flashbots' result shape, on the head state
  const simulation = await flashbots.simulate(signed, target);
  if ("error" in simulation) {
    console.log(JSON.stringify({ simulationError: simulation.error }));
    process.exit(1);
  }
  const simulated = { totalGasUsed: Number(simulation.totalGasUsed), coinbaseDiff: simulation.coinbaseDiff.toString(),
                      results: simulation.results.map((r) => ({ gasUsed: Number(r.gasUsed), txHash: r.txHash })) };
  const sent = await flashbots.sendRawBundle(signed, target);
  if ("error" in sent) {
    console.log(JSON.stringify({ error: sent.error }));
    process.exit(1);
  }
  const resolution = await sent.wait();
  const receipts = await sent.receipts();
  console.log(JSON.stringify({
    bundleHash: sent.bundleHash, target, simulated, txs: sent.bundleTransactions.map((t) => t.hash),
    included: resolution === FlashbotsBundleResolution.BundleIncluded, resolution,
    receipts: receipts.map((r) => ({ hash: r.hash, status: r.status, blockNumber: r.blockNumber })),
  }));
  provider.destroy();
  process.exit(resolution === FlashbotsBundleResolution.BundleIncluded ? 0 : 3);
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(2); });
