-- Argo CD health check for ferroflink.io/FlinkJob. Add it to argocd-cm as
-- resource.customizations.health.ferroflink.io_FlinkJob (see manifests/argocd/README.md).
-- Healthy only when the operator has seen the current generation and reports Ready.
local hs = { status = "Progressing", message = "Waiting for the ferroflink operator" }
if obj.status == nil then
  return hs
end
local generation = obj.metadata.generation or 0
local observed = obj.status.observedGeneration or 0
if observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local state = obj.status.lifecycleState
local conditions = obj.status.conditions or {}
if state == "Failed" then
  hs.status = "Degraded"
  hs.message = obj.status.error or "The job failed"
  return hs
end
if state == "Suspended" then
  hs.status = "Suspended"
  hs.message = "The job is suspended"
  return hs
end
if state == "Finished" then
  hs.status = "Healthy"
  hs.message = "The job finished"
  return hs
end
if state == "RollingBack" then
  hs.status = "Degraded"
  hs.message = obj.status.error or "The upgrade failed; returning to the last stable spec"
  return hs
end
if state == "Created" or state == "Deploying" or state == "Upgrading" or state == "Deleting" then
  hs.message = "Lifecycle: " .. state
  for _, c in ipairs(conditions) do
    if c.type == "Ready" and c.message ~= "" then
      hs.message = state .. ": " .. c.message
    end
  end
  return hs
end
for _, c in ipairs(conditions) do
  if c.type == "Degraded" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.message
    return hs
  end
end
for _, c in ipairs(conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    end
    hs.message = c.message
    return hs
  end
end
hs.message = "Lifecycle: " .. tostring(state)
return hs
