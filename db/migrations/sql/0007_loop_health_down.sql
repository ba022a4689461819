DROP TABLE IF EXISTS worker_loop_health;
