# task_worker.py: the worker of the distributed-process example of Python's
# multiprocessing.managers, written the way its tutorials write it. It
# connects to the manager task_master.py started, takes tasks from the task
# queue and puts their results into the result queue.
#
# Our own text of the classic example, kept verbatim for the tests: they run
# it against multiprocessing.managers and against droverd, changing only the
# import line and the address (test_managers_tutorial.py).

import time, sys, queue
from multiprocessing.managers import BaseManager

# The same kind of manager as the master's.
class QueueManager(BaseManager):
    pass

# This side only fetches the queues from the network, so it registers
# their names and no callable.
QueueManager.register('get_task_queue')
QueueManager.register('get_result_queue')

# Connect to the server, that is to the machine running task_master.py.
server_addr = '127.0.0.1'
print('Connect to server %s...' % server_addr)
# The port and the authkey must be the same as task_master.py's.
m = QueueManager(address=(server_addr, 5000), authkey=b'abc')
# Connect over the network.
m.connect()
# The queues.
task = m.get_task_queue()
result = m.get_result_queue()
# Take tasks from the task queue and put the results in the result queue.
for i in range(10):
    try:
        n = task.get(timeout=1)
        print('run task %d * %d...' % (n, n))
        r = '%d * %d = %d' % (n, n, n*n)
        time.sleep(1)
        result.put(r)
    except queue.Empty:
        print('task queue is empty.')
# Done.
print('worker exit.')
