//! Matching and the indexes behind it, plus read-only views and the
//! invariant check used by tests.

use super::*;

impl Dispatcher {
    /// Matches every dirty task and agent until nothing more can be offered.
    pub(super) fn rebalance(&mut self, now: i64, out: &mut Vec<Effect>) {
        loop {
            if let Some(slot) = self.dirty_tasks.pop() {
                self.offer_task_to_best_agent(now, slot, out);
            } else if let Some(a) = self.dirty_agents.pop() {
                while self.offer_best_task_to_agent(now, a, out) {}
            } else {
                break;
            }
        }
    }

    /// A task became waiting: give it to the free agent who has been idle
    /// longest (and holds least), skipping agents it cannot go to.
    fn offer_task_to_best_agent(&mut self, now: i64, slot: u32, out: &mut Vec<Effect>) {
        let Some(Some(task)) = self.tasks.get(slot as usize) else {
            return;
        };
        if task.state != TaskState::Waiting {
            return;
        }
        let mut passed_over = Vec::new();
        let mut chosen = None;
        let class = task.class();
        for &(_, _, a) in &self.queues[task.queue as usize].routable[class as usize] {
            let agent = &self.agents[a as usize];
            let reason = if !agent.can_take(task.channel) {
                PassReason::AtCapacity
            } else if let Some(reason) = task.kept_from(a, now) {
                reason
            } else {
                chosen = Some(a);
                break;
            };
            if passed_over.len() < MAX_PASSED_OVER_LISTED {
                passed_over.push(PassedOver { agent: agent.profile.id, reason });
            }
        }
        if let Some(a) = chosen {
            self.list_below_level(slot, a, &mut passed_over);
            let mut why = self.explain("longest_idle_agent", task.queue, passed_over);
            why.step = self.step_why(slot, a);
            self.offer(now, slot, a, why, out);
        }
    }

    /// An agent gained room: offer it the best waiting task among its
    /// queues. Returns whether an offer was made.
    fn offer_best_task_to_agent(&mut self, now: i64, a: u32, out: &mut Vec<Effect>) -> bool {
        let agent = &self.agents[a as usize];
        if agent.routable_key.is_none() {
            return false;
        }
        let mut best: Option<TaskKey> = None;
        for q in agent.queue_bits() {
            // Only the classes whose levels the agent meets: a task at a
            // step above it is not looked at.
            for class in bits(agent.classes & self.queues[q].classes) {
                for channel in [Channel::Voice, Channel::BackOffice] {
                    if !agent.can_take(channel) {
                        continue;
                    }
                    let candidate = self.queues[q].waiting[class][channel_slot(channel)]
                        .iter()
                        .find(|key| self.task(key.4).kept_from(a, now).is_none());
                    if let Some(&key) = candidate
                        && best.is_none_or(|b| key < b)
                    {
                        best = Some(key);
                    }
                }
            }
        }
        let Some(key) = best else { return false };
        let queue = self.task(key.4).queue;
        let mut why = self.explain("best_waiting_task", queue, Vec::new());
        why.step = self.step_why(key.4, a);
        self.offer(now, key.4, a, why, out);
        true
    }

    fn explain(&self, rule: &'static str, queue: u8, passed_over: Vec<PassedOver>) -> Explanation {
        let q = &self.queues[queue as usize];
        Explanation {
            rule,
            queue: self.rules.queues[queue as usize].clone(),
            agents_in_queue: q.members,
            passed_over,
            offline: q.by_status[0],
            busy: q.by_status[2],
            wrap_up: q.by_status[3],
            on_break: q.by_status[4],
            disconnected: q.by_status[5],
            lacking_skill: self.agents.len() as u32 - q.members,
            step: None,
        }
    }

    fn offer(&mut self, now: i64, slot: u32, a: u32, why: Explanation, out: &mut Vec<Effect>) {
        self.dequeue(slot);
        let expires = now + self.rules.offer_timeout.as_millis() as i64;
        self.offer_seq += 1;
        let epoch = self.offer_seq;
        let task = self.task_mut(slot);
        task.state = TaskState::Offered { agent: a, expires };
        task.offer_epoch = epoch;
        let card = task.card.clone();
        self.attach(a, slot);
        self.arm(expires, Timer::OfferExpiry { slot, epoch });
        let agent = self.agent_id(a);
        out.push(Effect::Record(Record::TaskOffered { task: card.id, agent, at: ts(now) }));
        out.push(Effect::Offer { agent, offer: Offer { task: card, expires_at: ts(expires), why } });
    }

    // ----- indexes -----

    pub(super) fn enqueue(&mut self, slot: u32) {
        let task = self.task(slot);
        let (queue, class, channel, key) =
            (task.queue as usize, task.class() as usize, channel_slot(task.channel), task.key);
        self.queues[queue].waiting[class][channel].insert(key);
        self.dirty_tasks.push(slot);
    }

    pub(super) fn dequeue(&mut self, slot: u32) {
        let task = self.task(slot);
        let (queue, class, channel, key) =
            (task.queue as usize, task.class() as usize, channel_slot(task.channel), task.key);
        self.queues[queue].waiting[class][channel].remove(&key);
    }

    /// Counts a task against an agent's capacity.
    pub(super) fn attach(&mut self, a: u32, slot: u32) {
        let channel = self.task(slot).channel;
        self.unindex_agent(a);
        let agent = &mut self.agents[a as usize];
        agent.tasks.push(slot);
        match channel {
            Channel::Voice => agent.voice_load += 1,
            Channel::BackOffice => agent.back_office_load += 1,
        }
        self.index_agent(a);
    }

    /// Releases a task from an agent's capacity; the caller decides where it goes.
    pub(super) fn detach(&mut self, a: u32, slot: u32) {
        let channel = self.task(slot).channel;
        self.unindex_agent(a);
        let agent = &mut self.agents[a as usize];
        agent.tasks.retain(|&s| s != slot);
        match channel {
            Channel::Voice => agent.voice_load -= 1,
            Channel::BackOffice => agent.back_office_load -= 1,
        }
        self.index_agent(a);
        self.dirty_agents.push(a);
    }

    pub(super) fn remove_task(&mut self, slot: u32) {
        if let Some(task) = self.tasks[slot as usize].take() {
            self.task_index.remove(&task.card.id);
            self.free_slots.push(slot);
        }
    }

    /// Takes an agent out of every per-queue index before a change.
    pub(super) fn unindex_agent(&mut self, a: u32) {
        let agent = &mut self.agents[a as usize];
        let key = agent.routable_key.take();
        let b = bucket(&agent.status, agent.connected);
        for q in agent.queue_bits() {
            let queue = &mut self.queues[q];
            if let Some(key) = key {
                for class in bits(agent.classes & queue.classes) {
                    queue.routable[class].remove(&key);
                }
            }
            queue.members -= 1;
            queue.by_status[b] -= 1;
        }
    }

    /// Puts an agent back into the per-queue indexes after a change.
    pub(super) fn index_agent(&mut self, a: u32) {
        let agent = &mut self.agents[a as usize];
        let key = agent.routable().then_some((agent.load(), agent.idle_since, a));
        agent.routable_key = key;
        let b = bucket(&agent.status, agent.connected);
        for q in agent.queue_bits() {
            let queue = &mut self.queues[q];
            if let Some(key) = key {
                for class in bits(agent.classes & queue.classes) {
                    queue.routable[class].insert(key);
                }
            }
            queue.members += 1;
            queue.by_status[b] += 1;
        }
    }

    // ----- lookups -----

    pub(super) fn task(&self, slot: u32) -> &Task {
        self.tasks[slot as usize].as_ref().expect("live task slot")
    }

    pub(super) fn task_mut(&mut self, slot: u32) -> &mut Task {
        self.tasks[slot as usize].as_mut().expect("live task slot")
    }

    pub(super) fn task_slot(&self, id: TaskId) -> Result<u32, DispatchError> {
        self.task_index.get(&id).copied().ok_or(DispatchError::UnknownTask)
    }

    pub(super) fn agent_slot(&self, id: UserId) -> Result<u32, DispatchError> {
        self.agent_index.get(&id).copied().ok_or(DispatchError::UnknownAgent)
    }

    pub(super) fn agent_id(&self, a: u32) -> UserId {
        self.agents[a as usize].profile.id
    }

    pub(super) fn snapshot(&self, a: u32) -> AgentSnapshot {
        let agent = &self.agents[a as usize];
        let mut held = Vec::new();
        let mut offers = Vec::new();
        for &slot in &agent.tasks {
            let task = self.task(slot);
            match task.state {
                TaskState::Assigned { .. } => held.push(task.card.clone()),
                TaskState::Offered { expires, .. } => offers.push(Offer {
                    task: task.card.clone(),
                    expires_at: ts(expires),
                    // Recomputed for a reconnecting console: the floor as it is now.
                    why: self.explain("snapshot", task.queue, Vec::new()),
                }),
                TaskState::Waiting => {}
            }
        }
        AgentSnapshot {
            agent: agent.profile.id,
            status: agent.status.clone(),
            status_since: ts(agent.status_since),
            held,
            offers,
        }
    }

    // ----- read-only views for the API -----

    pub fn agent_profile(&self, id: UserId) -> Option<&AgentProfile> {
        self.agent_index.get(&id).map(|&a| &self.agents[a as usize].profile)
    }

    pub fn agent_snapshot(&self, id: UserId) -> Option<AgentSnapshot> {
        self.agent_index.get(&id).map(|&a| self.snapshot(a))
    }

    /// The cards of the tasks offered to or held by an agent now.
    pub fn agent_cards(&self, id: UserId) -> Vec<Arc<TaskCard>> {
        let Some(&a) = self.agent_index.get(&id) else { return Vec::new() };
        self.agents[a as usize].tasks.iter().map(|&slot| self.task(slot).card.clone()).collect()
    }

    pub fn live_task(&self, id: TaskId) -> Option<LiveTask> {
        let task = self.task(*self.task_index.get(&id)?);
        let (status, agent) = match task.state {
            TaskState::Waiting => (TaskStatus::Waiting, None),
            TaskState::Offered { agent, .. } => (TaskStatus::Offered, Some(self.agent_id(agent))),
            TaskState::Assigned { agent } => (TaskStatus::Assigned, Some(self.agent_id(agent))),
        };
        Some(LiveTask { status, agent, channel: task.channel })
    }

    /// Every live task with where it is, in no particular order.
    pub fn live_tasks(&self) -> Vec<(TaskId, LiveTask)> {
        self.task_index.keys().filter_map(|&id| Some((id, self.live_task(id)?))).collect()
    }

    /// Every live task with its card and since when it waits in its queue,
    /// for the live figures to start from.
    pub fn live_cards(&self) -> Vec<(Arc<TaskCard>, LiveTask, Timestamp)> {
        self.task_index
            .iter()
            .filter_map(|(&id, &slot)| {
                let task = self.task(slot);
                Some((task.card.clone(), self.live_task(id)?, ts(task.key.2)))
            })
            .collect()
    }

    pub fn live_task_count(&self) -> usize {
        self.task_index.len()
    }

    /// Waiting tasks of a queue in the order they will be offered.
    pub fn waiting_order(&self, queue: QueueIdx) -> Vec<TaskId> {
        let mut keys: Vec<TaskKey> =
            self.queues[queue.0 as usize].waiting.iter().flatten().flatten().copied().collect();
        keys.sort_unstable();
        keys.into_iter().map(|k| self.task(k.4).card.id).collect()
    }

    pub fn queue_stats(&self, now: Timestamp) -> Vec<QueueStats> {
        let now = ms(now);
        let mut stats: Vec<QueueStats> = self
            .queues
            .iter()
            .zip(&self.rules.queues)
            .map(|(q, name)| QueueStats {
                name: name.clone(),
                waiting: 0,
                offered: 0,
                assigned: 0,
                longest_wait_secs: 0,
                overdue: 0,
                nearest_deadline: None,
                agents_in_queue: q.members,
                agents_available: q.by_status[1],
            })
            .collect();
        for task in self.tasks.iter().flatten() {
            let s = &mut stats[task.queue as usize];
            if let Some(deadline) = task.card.deadline {
                s.overdue += u32::from(ms(deadline) < now);
                s.nearest_deadline = Some(s.nearest_deadline.map_or(deadline, |d| d.min(deadline)));
            }
            match task.state {
                TaskState::Waiting => {
                    s.waiting += 1;
                    s.longest_wait_secs = s.longest_wait_secs.max((now - task.key.2) / 1000);
                }
                TaskState::Offered { .. } => s.offered += 1,
                TaskState::Assigned { .. } => s.assigned += 1,
            }
        }
        stats
    }

    /// The queues `id` going to `status` at `now` would leave with nobody
    /// online, while the centre is open: the agent is told, since the
    /// manual asks whoever leaves the office to hand over first, so that
    /// someone is always online (确保该时段有在线客服接待). Empty for a
    /// status that stays on the line, and out of hours.
    pub fn left_uncovered(&self, id: UserId, status: &AgentStatus, now: Timestamp) -> Vec<QueueIdx> {
        if status.is_on_line() || !self.rules.calendar.is_open(now) {
            return Vec::new();
        }
        self.covered_only_by(id)
    }

    /// The queues `id` alone keeps covered: were they to leave the line,
    /// nobody serving them would be online.
    pub fn covered_only_by(&self, id: UserId) -> Vec<QueueIdx> {
        let Some(&a) = self.agent_index.get(&id) else { return Vec::new() };
        let agent = &self.agents[a as usize];
        // Buckets 1-3: available and connected, on a call, in wrap-up.
        if !matches!(bucket(&agent.status, agent.connected), 1..=3) {
            return Vec::new();
        }
        (0..self.queues.len())
            .filter(|&q| agent.profile.queues & (1u64 << q) != 0)
            .filter(|&q| {
                let b = &self.queues[q].by_status;
                b[1] + b[2] + b[3] == 1
            })
            .map(|q| QueueIdx(q as u8))
            .collect()
    }

    pub fn agents_view(&self) -> Vec<AgentView> {
        self.agents
            .iter()
            .map(|a| AgentView {
                id: a.profile.id,
                name: a.profile.name.clone(),
                status: a.status.clone(),
                status_since: ts(a.status_since),
                connected: a.connected,
                tasks: a.tasks.iter().map(|&s| self.task(s).card.id).collect(),
                missed_offers_in_a_row: a.missed_in_a_row,
                winding_down: a.winding_down,
            })
            .collect()
    }

    /// Checks the invariants the dispatcher promises; tests call it after
    /// every step. Returns a description of the first violation.
    pub fn check_invariants(&self, now: Timestamp) -> Result<(), String> {
        let now = ms(now);
        let mut holder: HashMap<u32, u32> = HashMap::new();
        for (a, agent) in self.agents.iter().enumerate() {
            let (mut voice, mut back) = (0u8, 0u8);
            for &slot in &agent.tasks {
                if let Some(prev) = holder.insert(slot, a as u32) {
                    return Err(format!("task slot {slot} held by agents {prev} and {a}"));
                }
                let task = self.tasks[slot as usize].as_ref().ok_or("agent holds a dead task")?;
                match task.state {
                    TaskState::Offered { agent, .. } | TaskState::Assigned { agent } if agent == a as u32 => {}
                    other => return Err(format!("agent {a} lists task in state {other:?}")),
                }
                match task.channel {
                    Channel::Voice => voice += 1,
                    Channel::BackOffice => back += 1,
                }
            }
            if voice != agent.voice_load || back != agent.back_office_load {
                return Err(format!("agent {a} load counters disagree with its tasks"));
            }
            if voice > agent.profile.voice_capacity.max(1) || (voice > 0 && agent.tasks.len() > 1 + back as usize) {
                return Err(format!("agent {a} holds more voice work than allowed"));
            }
        }
        for (slot, task) in self.tasks.iter().enumerate() {
            let Some(task) = task else { continue };
            let slot = slot as u32;
            let class = task.class() as usize;
            let in_queue =
                self.queues[task.queue as usize].waiting[class][channel_slot(task.channel)].contains(&task.key);
            match task.state {
                TaskState::Waiting => {
                    if !in_queue || holder.contains_key(&slot) {
                        return Err(format!("waiting task {} is not (only) in its queue", task.card.id));
                    }
                    if self.step_overdue(task, now) {
                        return Err(format!("task {} is at a step that is over", task.card.id));
                    }
                    for &(_, _, a) in &self.queues[task.queue as usize].routable[0] {
                        let agent = &self.agents[a as usize];
                        let meets_step = agent.classes & (1u64 << class) != 0;
                        if meets_step && agent.can_take(task.channel) && task.kept_from(a, now).is_none() {
                            return Err(format!("agent {a} idles while task {} waits", task.card.id));
                        }
                    }
                }
                _ => {
                    if in_queue || !holder.contains_key(&slot) {
                        return Err(format!("task {} is held but also queued, or held by nobody", task.card.id));
                    }
                }
            }
        }
        for (a, agent) in self.agents.iter().enumerate() {
            let expected = agent.routable().then_some((agent.load(), agent.idle_since, a as u32));
            if agent.routable_key != expected {
                return Err(format!("agent {a} routable index is stale"));
            }
            if agent.classes != self.routing.classes_met(agent.profile.queues, &agent.profile.levels) {
                return Err(format!("agent {a} routing classes are stale"));
            }
            for q in agent.queue_bits() {
                let queue = &self.queues[q];
                for class in bits(queue.classes) {
                    let indexed = expected.is_some_and(|key| queue.routable[class].contains(&key));
                    if indexed != (expected.is_some() && agent.classes & (1u64 << class) != 0) {
                        return Err(format!("agent {a} is misfiled in class {class} of queue {q}"));
                    }
                }
            }
        }
        Ok(())
    }
}
