# task_master.py: the master of the distributed-process example of Python's
# multiprocessing.managers, written the way its tutorials write it. It hands
# out tasks through a queue served on the network and collects the results
# that task_worker.py, on this host or another, puts into a second queue.
#
# Our own text of the classic example, kept verbatim for the tests: they run
# it against multiprocessing.managers and against droverd, changing only the
# import line and the address (test_managers_tutorial.py).

import random, time, queue
from multiprocessing.managers import BaseManager

# The queue of tasks to hand out and the queue of results to collect.
task_queue = queue.Queue()
result_queue = queue.Queue()

# A manager derived from BaseManager serves both queues.
class QueueManager(BaseManager):
    pass

# Register the two queues on the network; the callable returns the queue.
QueueManager.register('get_task_queue', callable=lambda: task_queue)
QueueManager.register('get_result_queue', callable=lambda: result_queue)
# Bind port 5000 and set the authkey to 'abc'.
manager = QueueManager(address=('', 5000), authkey=b'abc')
# Start the server.
manager.start()
# The queues as seen through the network.
task = manager.get_task_queue()
result = manager.get_result_queue()
# Put some tasks in.
for i in range(10):
    n = random.randint(0, 10000)
    print('Put task %d...' % n)
    task.put(n)
# Read the results from the result queue.
print('Try get results...')
for i in range(10):
    r = result.get(timeout=10)
    print('Result: %s' % r)
# Shut the manager down.
manager.shutdown()
print('master exit.')
