"""What an operations team works with, free of Airflow: the trigger form's settings (`form`), the run's record of
settings and decisions (`record`), the approval summary (`review`) and the failure alert (`alerts`).

`booktransfer.orchestration` turns these into DAG params, the approval gate and the notifier.
"""
