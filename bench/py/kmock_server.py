"""kmock's KubernetesEmulator on 127.0.0.1:PORT, for the Kubernetes section of the benchmarks.

    python3 kmock_server.py PORT    (prints `ready` once it listens)
"""
import asyncio, sys
import kmock

async def main(port):
    k8s = kmock.KubernetesEmulator()
    async with k8s, kmock.Server(k8s, port=port):
        print("ready", flush=True)
        await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1])))
