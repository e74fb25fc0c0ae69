"""mercur.offline.checkov: `make checkov` passes only when every Checkov failure is an accepted one, for the
stacks it is accepted in, and no acceptance outlives its failure. (Checkov itself runs in `make checkov`,
from its own virtualenv; these tests hold the judging.)"""

from __future__ import annotations

from mercur.offline import checkov
from mercur.offline.checkov import ACCEPTED, Failure
from mercur.offline.terraform_plan import TERRAFORM_TYPES


def _report(*failed: tuple[str, str], passed: int = 3, errors: int = 0) -> dict:
    """A report in Checkov's `--output json` shape (one framework)."""
    return {"check_type": "terraform_plan", "summary": {"passed": passed, "failed": len(failed),
                                                         "parsing_errors": errors},
            "results": {"failed_checks": [{"check_id": check, "resource": resource, "check_name": "a check"}
                                          for check, resource in failed]}}


def _named(kept) -> str:
    """A resource name the acceptance's first pattern matches."""
    return kept.names[0].replace("*", "a").replace("[0-9]", "0")


def test_a_failure_is_accepted_only_for_its_check_kind_resources_and_stacks() -> None:
    dev_only = next(a for a in ACCEPTED if a.stacks == ("dev",))
    keeper = next(a for a in ACCEPTED if a.names == (checkov.KEEPER, checkov.SIGNALS))
    found, passed, errors = checkov.failures("prod", "terraform_plan", [
        _report((keeper.check, f"{keeper.kind}.{_named(keeper)}"), (dev_only.check, f"{dev_only.kind}.{_named(dev_only)}"),
                ("CKV_AWS_1", f"{keeper.kind}.z"), (keeper.check, f"{keeper.kind}.usw1-another-function"))])
    assert (passed, errors) == (3, 0)
    new, stale = checkov.judge(found, ["prod"])
    # Another function of the same type is checked in full: an acceptance holds for the resources it names.
    assert [(f.check, f.resource) for f in new] == [
        (dev_only.check, f"{dev_only.kind}.{_named(dev_only)}"), ("CKV_AWS_1", f"{keeper.kind}.z"),
        (keeper.check, f"{keeper.kind}.usw1-another-function")]
    assert keeper not in stale and dev_only not in stale  # dev was not checked: not stale


def test_an_acceptance_that_matches_nothing_in_its_stacks_is_stale() -> None:
    new, stale = checkov.judge([], list(checkov.STACKS))
    assert not new and set(stale) == set(ACCEPTED)
    kept = ACCEPTED[0]
    _, stale = checkov.judge([Failure(kept.stacks[0], "terraform_plan", kept.check, f"{kept.kind}.{_named(kept)}",
                                      "t")],
                             list(checkov.STACKS))
    assert kept not in stale


def test_every_acceptance_names_a_kind_we_declare_and_says_why() -> None:
    kinds = set(TERRAFORM_TYPES.values()) | {"Deployment", "Job", "StatefulSet", "Service"}
    for kept in ACCEPTED:
        assert kept.kind in kinds and kept.check.startswith(("CKV_", "CKV2_"))
        assert len(kept.reason) > 60 and set(kept.stacks) <= set(checkov.STACKS) and kept.names
    assert len({(a.check, a.kind) for a in ACCEPTED}) == len(ACCEPTED)


def test_without_checkov_it_says_how_to_get_it(tmp_path, capsys) -> None:
    assert checkov.main(["prod", "--checkov", str(tmp_path / "none")]) == 2
    assert "make checkov" in capsys.readouterr().err
