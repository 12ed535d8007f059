-- CreateTable
CREATE TABLE "resource_server_clients" (
    "api_id" UUID NOT NULL,
    "client_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "resource_server_clients_pkey" PRIMARY KEY ("api_id","client_id")
);

-- CreateTable
CREATE TABLE "token_revocations" (
    "kind" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "revoked_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "token_revocations_pkey" PRIMARY KEY ("kind","value")
);

-- CreateIndex
CREATE INDEX "resource_server_clients_client_id_idx" ON "resource_server_clients"("client_id");

-- CreateIndex
CREATE INDEX "token_revocations_revoked_at_idx" ON "token_revocations"("revoked_at");

-- CreateIndex
CREATE INDEX "token_revocations_expires_at_idx" ON "token_revocations"("expires_at");

-- AddForeignKey
ALTER TABLE "resource_server_clients" ADD CONSTRAINT "resource_server_clients_api_id_fkey" FOREIGN KEY ("api_id") REFERENCES "apis"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "resource_server_clients" ADD CONSTRAINT "resource_server_clients_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("id") ON DELETE CASCADE ON UPDATE CASCADE;
