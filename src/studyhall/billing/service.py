"""Billing use cases: the wallet, its ledger, reservations, quotas, course caps and figures.

One module a use case, each with its rules: ledger (the wallet row, its entries, the daily
window), reservations, credits (top-ups, purchases, refunds), limits (tiers, course caps and
budgets), reports and reactions. This module keeps every public name, so callers (routers, web,
compat, the tutor, the wiring) are unchanged.
"""

from __future__ import annotations

from studyhall.billing.credits import ProviderMovement as ProviderMovement
from studyhall.billing.credits import RefundDebit as RefundDebit
from studyhall.billing.credits import credit_purchase as credit_purchase
from studyhall.billing.credits import debit_refund as debit_refund
from studyhall.billing.credits import topup as topup
from studyhall.billing.ledger import MAX_AMOUNT as MAX_AMOUNT
from studyhall.billing.ledger import SIGNUP_BONUS_REASON as SIGNUP_BONUS_REASON
from studyhall.billing.ledger import check_invariants as check_invariants
from studyhall.billing.ledger import day_window as day_window
from studyhall.billing.ledger import effective_daily_limit as effective_daily_limit
from studyhall.billing.ledger import find_wallet as find_wallet
from studyhall.billing.ledger import get_wallet as get_wallet
from studyhall.billing.ledger import lock_wallet as lock_wallet
from studyhall.billing.limits import CourseBudgetView as CourseBudgetView
from studyhall.billing.limits import CourseCapView as CourseCapView
from studyhall.billing.limits import get_course_budget as get_course_budget
from studyhall.billing.limits import get_course_cap as get_course_cap
from studyhall.billing.limits import set_course_budget as set_course_budget
from studyhall.billing.limits import set_course_cap as set_course_cap
from studyhall.billing.limits import set_limits as set_limits
from studyhall.billing.reactions import forget_user as forget_user
from studyhall.billing.reports import CourseRevenue as CourseRevenue
from studyhall.billing.reports import CurrencyMoney as CurrencyMoney
from studyhall.billing.reports import CurrencyRevenue as CurrencyRevenue
from studyhall.billing.reports import MonthRevenue as MonthRevenue
from studyhall.billing.reports import Revenue as Revenue
from studyhall.billing.reports import TransactionsPage as TransactionsPage
from studyhall.billing.reports import TransactionTotals as TransactionTotals
from studyhall.billing.reports import UsageStats as UsageStats
from studyhall.billing.reports import list_expenses as list_expenses
from studyhall.billing.reports import list_transactions as list_transactions
from studyhall.billing.reports import record_expense as record_expense
from studyhall.billing.reports import revenue as revenue
from studyhall.billing.reports import transactions as transactions
from studyhall.billing.reports import usage_stats as usage_stats
from studyhall.billing.reservations import expire_due as expire_due
from studyhall.billing.reservations import finalize as finalize
from studyhall.billing.reservations import get_reservation as get_reservation
from studyhall.billing.reservations import list_reservations as list_reservations
from studyhall.billing.reservations import release as release
from studyhall.billing.reservations import reserve as reserve
