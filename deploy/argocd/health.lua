-- Argo CD health check for ram.alicloud.dev CrossAccountRole, RamUser and StsGrant.
-- Install it under resource.customizations.health.ram.alicloud.dev_<Kind> (argocd-cm.yaml).
--
-- Follows kstatus, in this order:
--   status not yet written for the current generation        -> Progressing
--   Stalled=True, or Ready=False with a terminal reason       -> Degraded
--   Reconciling=True                                          -> Progressing
--   Ready=True                                                -> Healthy
--   anything else (Ready=False while retrying, no Ready yet)  -> Progressing
-- Terminal reasons need a person (credentials, permissions, a name taken by someone else, an
-- expired grant): they are Degraded even while the operator keeps retrying.
local terminal = {
  AccessDenied = true,
  AlreadyExists = true,
  CredentialsExpired = true,
  CredentialsInvalid = true,
  CredentialsNotFound = true,
  DefaultCredentialsDisabled = true,
  InvalidSpec = true,
  InvalidPolicyDocument = true,
  LimitExceeded = true,
}

local hs = { status = "Progressing", message = "Waiting for the operator to reconcile" }

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

if obj.status == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = {}
for _, condition in ipairs(obj.status.conditions or {}) do
  -- A condition written for an older generation says nothing about this one.
  if condition.observedGeneration == nil or generation == nil
      or condition.observedGeneration >= generation then
    conditions[condition.type] = condition
  end
end

local ready = conditions["Ready"]
local stalled = conditions["Stalled"]
local reconciling = conditions["Reconciling"]

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
if ready ~= nil and ready.status == "False" and terminal[ready.reason or ""] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling)
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
if ready ~= nil then
  hs.message = describe(ready)
end
return hs
