"""mercur.components.tags: the discovery tags are valid AWS tags and are what the storage actually carries."""

from mercur.components.tags import BACKUP_SELECTION


def test_backup_selection_is_a_valid_aws_tag() -> None:
    key, value = BACKUP_SELECTION
    assert 0 < len(key) <= 128 and len(value) <= 256 and not key.lower().startswith("aws:")


def test_every_cluster_tags_its_volumes_for_backup(stack_plan) -> None:
    classes = stack_plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert len(classes) == len(stack_plan.outputs["failoverOrder"])
    assert {c.inputs["parameters"]["tagSpecification_1"] for c in classes} == {"mercur:backup=true"}
