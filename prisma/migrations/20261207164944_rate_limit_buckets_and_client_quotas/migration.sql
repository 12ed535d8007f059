-- AlterTable
ALTER TABLE "clients" ADD COLUMN     "rate_limit" TEXT,
ADD COLUMN     "rate_limit_burst" INTEGER;

-- DropTable
DROP TABLE "rate_limits";

-- CreateTable
CREATE TABLE "rate_limit_buckets" (
    "key" VARCHAR(255) NOT NULL,
    "tat_ms" BIGINT NOT NULL,
    "updated_ms" BIGINT NOT NULL,

    CONSTRAINT "rate_limit_buckets_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "rate_limit_buckets_updated_ms_idx" ON "rate_limit_buckets"("updated_ms");
