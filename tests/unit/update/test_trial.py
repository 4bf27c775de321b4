from update.trial import Health, TrialState, decide, describe

HEALTHY = Health(system_state="running", network_up=True, joined=True, agent_up=True)
NO_AGENT = Health(system_state="running", network_up=True, joined=True, agent_up=False)
ARMED = TrialState("0.2.0", "0.1.0", bound=300)


def test_no_trial_does_nothing():
    assert decide(None, "0.1.0", HEALTHY, 10, "b1").action == "none"


def test_healthy_trial_commits_and_counts_the_boot():
    d = decide(ARMED, "0.2.0", HEALTHY, 30, "b1")
    assert d.action == "commit"
    assert d.state is not None and d.state.state == "committed" and d.state.boots == 1


def test_unhealthy_waits_within_the_bound_then_rolls_back_naming_why():
    wait = decide(ARMED, "0.2.0", NO_AGENT, 100, "b1")
    assert wait.action == "wait" and wait.state is not None and wait.state.state == "trying"
    back = decide(wait.state, "0.2.0", NO_AGENT, 301, "b1")
    assert back.action == "rollback"
    assert "node agent is not up" in back.reason and back.state.state == "rolled-back"  # type: ignore[union-attr]


def test_the_boot_counter_counts_boots_not_calls():
    first = decide(ARMED, "0.2.0", NO_AGENT, 10, "b1").state
    again = decide(first, "0.2.0", NO_AGENT, 20, "b1").state
    assert again is not None and again.boots == 1
    second_boot = decide(again, "0.2.0", HEALTHY, 5, "b2")
    assert second_boot.action == "rollback" and "booted 2 times" in second_boot.reason


def test_back_on_the_previous_image_records_a_failed_trial():
    never = decide(ARMED, "0.1.0", HEALTHY, 10, "b2")
    assert never.action == "failed" and "never reached the system" in never.reason
    trying = TrialState("0.2.0", "0.1.0", state="trying", boots=1, boot_id="b1")
    hung = decide(trying, "0.1.0", HEALTHY, 10, "b2")
    assert hung.action == "failed" and "hang" in hung.reason


def test_agent_counts_only_when_joined():
    assert Health("running", True, joined=False, agent_up=False).healthy
    assert not Health("running", False, joined=False, agent_up=True).healthy


def test_state_round_trips_and_describes():
    state = TrialState("0.2.0", "0.1.0", state="failed", reason="because")
    assert TrialState.from_dict(state.to_dict()) == state
    assert describe(state) == "0.2.0 failed its trial: because"
    assert describe(None) == "no update tried on this node"


def test_the_reason_says_what_systemd_said_and_names_the_failed_units():
    starting = Health("starting", True, joined=False, agent_up=False)
    assert starting.missing() == ["the system is starting"]
    degraded = Health("degraded", True, joined=False, agent_up=False,
                      failed_units=("broken.service",))
    assert degraded.missing() == ["the system is degraded (failed units: broken.service)"]
    assert Health("", True, joined=False, agent_up=False).missing() == ["the system is not running"]


def test_a_boot_that_finished_with_failed_units_rolls_back_at_once():
    degraded = Health("degraded", True, joined=False, agent_up=False, failed_units=("broken.service",))
    back = decide(ARMED, "0.2.0", degraded, 40, "b1")
    assert back.action == "rollback" and back.state is not None and back.state.state == "rolled-back"
    assert back.reason == "0.2.0 finished its boot unhealthy: the system is degraded (failed units: broken.service)"
    # still starting (units may fail and restart): wait for the bound
    assert decide(ARMED, "0.2.0", Health("starting", True, joined=False, agent_up=False), 40, "b1").action == "wait"
