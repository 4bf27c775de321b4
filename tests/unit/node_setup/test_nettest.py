from node_setup.nettest import ProbeResult, test_network
from nodecore.runner import RecordingRunner


def test_pings_gateways_and_hosts_and_resolves_a_name():
    runner = RecordingRunner()
    runner.respond(["ping", "-n", "-c", "3", "-W", "1", "198.51.100.1"], stdout="rtt min/avg/max = 0.1/0.2/0.3 ms\n")
    runner.respond(["ping", "-n", "-c", "3", "-W", "1", "198.51.100.9"], returncode=1,
                   stdout="3 packets transmitted, 0 received, 100% packet loss\n")
    runner.respond(["getent", "hosts", "engine.example"], returncode=2)
    results = test_network(runner, ["198.51.100.1"], ["198.51.100.9"], "engine.example")
    assert results == [
        ProbeResult("gateway", "198.51.100.1", True, "rtt min/avg/max = 0.1/0.2/0.3 ms"),
        ProbeResult("host", "198.51.100.9", False, "3 packets transmitted, 0 received, 100% packet loss"),
        ProbeResult("resolve", "engine.example", False, ""),
    ]


def test_nothing_to_probe():
    assert test_network(RecordingRunner(), []) == []
