DROP TABLE workflow_stat_fold_clock;
