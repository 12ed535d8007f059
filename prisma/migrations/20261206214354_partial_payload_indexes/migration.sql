-- DropIndex
DROP INDEX "oidc_payloads_account_id_idx";

-- DropIndex
DROP INDEX "oidc_payloads_model_grant_id_idx";

-- DropIndex
DROP INDEX "oidc_payloads_model_uid_idx";

-- DropIndex
DROP INDEX "oidc_payloads_model_user_code_idx";

-- CreateIndex
CREATE INDEX "oidc_payloads_model_grant_id_idx" ON "oidc_payloads"("model", "grant_id") WHERE (grant_id IS NOT NULL);

-- CreateIndex
CREATE INDEX "oidc_payloads_model_user_code_idx" ON "oidc_payloads"("model", "user_code") WHERE (user_code IS NOT NULL);

-- CreateIndex
CREATE INDEX "oidc_payloads_model_uid_idx" ON "oidc_payloads"("model", "uid") WHERE (uid IS NOT NULL);

-- CreateIndex
CREATE INDEX "oidc_payloads_account_id_idx" ON "oidc_payloads"("account_id") WHERE (account_id IS NOT NULL);
