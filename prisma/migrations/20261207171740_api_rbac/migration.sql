-- AlterTable
ALTER TABLE "apis" ADD COLUMN     "rbac" BOOLEAN NOT NULL DEFAULT false;
